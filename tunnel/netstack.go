package tunnel

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/wgu-project/wgu/internal/hostcfg"
	"github.com/wgu-project/wgu/internal/pathmtu"
	"github.com/wgu-project/wgu/netstackx"
	"github.com/wgu-project/wgu/tunnel/config"
)

// createNetstack builds wgu's userspace stack with the config's addresses.
func createNetstack(cfg *config.Config, forwarding bool, log *slog.Logger) (*netstackx.Device, error) {
	mtu := cfg.Interface.MTU
	if mtu == 0 {
		mtu = pathmtu.Fit(log, hostcfg.DefaultMTU, pathmtu.LiteralEndpoints(cfg))
	}
	if len(cfg.Interface.Addresses) == 0 {
		return nil, fmt.Errorf("%w: netstack mode needs an Address in [Interface]", config.ErrInvalidConfig)
	}
	dev, err := netstackx.New(netstackx.Options{
		Addresses:  cfg.Interface.Addresses,
		MTU:        mtu,
		Forwarding: forwarding,
		Logger:     log,
	})
	if err != nil {
		return nil, fmt.Errorf("creating netstack: %w", err)
	}
	return dev, nil
}

var _ tun.Device = (*netstackx.Device)(nil)

// ErrNotNetstack is returned by the dial and listen methods of a tunnel on a
// kernel TUN: there the host's own sockets reach the tunnel.
var ErrNotNetstack = fmt.Errorf("only a netstack-mode tunnel dials and listens itself (in TUN mode use the host's sockets): %w", net.ErrClosed)

// stack is the tunnel's netstack; ErrClosed once the tunnel has stopped.
func (t *Tunnel) stack() (*netstackx.Device, error) {
	if err := t.alive(); err != nil {
		return nil, err
	}
	if t.ns == nil {
		return nil, ErrNotNetstack
	}
	return t.ns, nil
}

// DialContext connects to address (IP:port) through the tunnel.
func (t *Tunnel) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	ns, err := t.stack()
	if err != nil {
		return nil, err
	}
	return ns.DialContext(ctx, network, address)
}

// Listen listens for TCP connections on the tunnel's own address.
func (t *Tunnel) Listen(network, address string) (net.Listener, error) {
	ns, err := t.stack()
	if err != nil {
		return nil, err
	}
	return ns.Listen(network, address)
}

// ListenPacket opens a UDP socket on the tunnel's own address.
func (t *Tunnel) ListenPacket(network, address string) (net.PacketConn, error) {
	ns, err := t.stack()
	if err != nil {
		return nil, err
	}
	return ns.ListenPacket(network, address)
}

// Ping sends one ICMP echo request through the tunnel and returns the
// round-trip time.
func (t *Tunnel) Ping(ctx context.Context, dst netip.Addr, seq uint16) (time.Duration, error) {
	if err := t.alive(); err != nil {
		return 0, err
	}
	if t.ns == nil {
		return 0, ErrPingUnsupported
	}
	return t.ns.Ping(ctx, dst, seq)
}
