package doctor

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
)

// Options tune a doctor run.
type Options struct {
	// HandshakeTimeout is how long to wait for each peer's handshake
	// response; 0 means 5 s.
	HandshakeTimeout time.Duration
	// Resolver resolves Endpoint host names; nil means the system resolver.
	Resolver config.Resolver
	Log      *slog.Logger
}

// DefaultHandshakeTimeout is how long a peer gets to answer a handshake:
// wireguard retries an unanswered initiation after 5 s.
const DefaultHandshakeTimeout = 5 * time.Second

// Route is what the host's routing table says about a destination.
type Route struct {
	Src        netip.Addr // the source address the host would use
	ViaGateway bool       // the destination is not on a directly connected link
	MTU        int        // the route's MTU, or its link's; 0 if unknown
	Dev        string     // the outgoing link
}

// hostNet answers routing questions; tests substitute their own.
type hostNet interface {
	Route(dst netip.Addr) (Route, error)
}

// environment is what the checks consult beyond the target.
type environment struct {
	ctx              context.Context
	net              hostNet
	resolver         config.Resolver
	handshakeTimeout time.Duration
	log              *slog.Logger
}

func newEnvironment(ctx context.Context, o Options) *environment {
	env := &environment{ctx: ctx, net: kernelNet{}, resolver: o.Resolver, handshakeTimeout: o.HandshakeTimeout, log: o.Log}
	if env.resolver == nil {
		env.resolver = net.DefaultResolver
	}
	if env.handshakeTimeout <= 0 {
		env.handshakeTimeout = DefaultHandshakeTimeout
	}
	if env.log == nil {
		env.log = slog.New(slog.DiscardHandler)
	}
	return env
}

func (e *environment) resolve(ep config.Endpoint) (netip.AddrPort, error) {
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	return config.ResolveEndpoint(ctx, e.resolver, ep)
}
