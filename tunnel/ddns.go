package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// A peer's Endpoint may be a host name: Up resolves it once, as wg does.
// When the name's address changes (dynamic DNS), the tunnel would stay
// broken; so, like wireguard-tools' reresolve-dns.sh, a tunnel re-resolves
// the names of peers whose latest handshake is stale and moves the peer to
// the new address.

const (
	// defaultRefreshInterval is how often the peers are checked.
	defaultRefreshInterval = 10 * time.Second
	// defaultStaleAfter is how old a handshake must be before the name is
	// resolved again: a little over the 120 s rekey time plus the 15 s of
	// retries, as reresolve-dns.sh uses.
	defaultStaleAfter = 135 * time.Second
	// resolveTimeout bounds one lookup.
	resolveTimeout = 10 * time.Second
)

type endpointRefresh struct {
	interval time.Duration // between checks
	stale    time.Duration // handshake age (or time up without one) that triggers a lookup
	// afterRound, if set, runs after each check of the peers: tests see
	// with it that checks happen, even those that change nothing.
	afterRound func()
}

// WithEndpointRefresh changes how often host-name endpoints are checked
// (default 10 s) and how old a peer's latest handshake must be before its
// name is resolved again (default 135 s). A zero keeps the default.
func WithEndpointRefresh(interval, stale time.Duration) UpOption {
	return func(o *options) {
		if interval > 0 {
			o.refresh.interval = interval
		}
		if stale > 0 {
			o.refresh.stale = stale
		}
	}
}

// ddnsRunner owns the re-resolving goroutine, started once some peer has a
// host-name endpoint.
type ddnsRunner struct {
	mu     sync.Mutex
	closed bool
	cancel context.CancelFunc
	done   chan struct{}
}

// startDDNS starts the goroutine if a peer of t.cfg needs it and it is not
// running. The caller holds t.mu or is Up. Close stops the goroutine
// before it takes t.mu, since the goroutine takes it too.
func (t *Tunnel) startDDNS() {
	if len(hostNamePeers(t.cfg)) == 0 {
		return
	}
	r := &t.ddns
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		t.runDDNS(ctx)
	}()
}

// stopDDNS stops the goroutine for good and waits for it.
func (t *Tunnel) stopDDNS() {
	r := &t.ddns
	r.mu.Lock()
	r.closed = true
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (t *Tunnel) runDDNS(ctx context.Context) {
	start := time.Now()
	tick := time.NewTicker(t.opts.refresh.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.refreshEndpoints(ctx, start)
		if t.opts.refresh.afterRound != nil {
			t.opts.refresh.afterRound()
		}
	}
}

// hostNamePeers are the peers of cfg whose Endpoint is a name, not an IP.
func hostNamePeers(cfg *config.Config) []config.Peer {
	var out []config.Peer
	for _, p := range cfg.Peers {
		if p.Endpoint.IsZero() {
			continue
		}
		if _, err := netip.ParseAddr(p.Endpoint.Host); err != nil {
			out = append(out, p)
		}
	}
	return out
}

// refreshEndpoints re-resolves the names of the peers whose handshake is
// stale and moves each whose address changed.
func (t *Tunnel) refreshEndpoints(ctx context.Context, start time.Time) {
	peers := hostNamePeers(t.config())
	if len(peers) == 0 {
		return
	}
	st, err := t.Status()
	if err != nil {
		return
	}
	live := make(map[config.Key]uapi.PeerStatus, len(st.Peers))
	for _, p := range st.Peers {
		live[p.PublicKey] = p
	}
	now := time.Now()
	for _, p := range peers {
		ls, ok := live[p.PublicKey]
		if !ok {
			continue
		}
		since := start
		if !ls.LastHandshake.IsZero() && ls.LastHandshake.After(start) {
			since = ls.LastHandshake
		}
		if now.Sub(since) < t.opts.refresh.stale {
			continue
		}
		ap, err := resolveFresh(ctx, t.opts.resolver, p.Endpoint)
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("re-resolving endpoint", "peer", p.PublicKey.String(), "endpoint", p.Endpoint.String(), "err", err)
			}
			continue
		}
		old := liveEndpoint(ls.Endpoint)
		if old == ap {
			t.log.Debug("endpoint re-resolved, address unchanged", "peer", p.PublicKey.String(), "host", p.Endpoint.Host,
				"addr", ap.String())
			continue
		}
		if !t.moveEndpoint(p, ap) {
			continue
		}
		t.log.Info("endpoint address changed", "peer", p.PublicKey.String(), "host", p.Endpoint.Host,
			"old", old.String(), "new", ap.String())
	}
}

// moveEndpoint sets peer p's endpoint to ap, under the lock Reload and
// Close take: if the tunnel is closing, or a reload changed or removed the
// peer's Endpoint while the name was being looked up, nothing is set.
func (t *Tunnel) moveEndpoint(p config.Peer, ap netip.AddrPort) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing || !hasEndpoint(t.cfg, p.PublicKey, p.Endpoint) {
		return false
	}
	set := "public_key=" + p.PublicKey.Hex() + "\nupdate_only=true\nendpoint=" + ap.String() + "\n"
	if err := t.dev.IpcSet(set); err != nil {
		t.log.Error("setting re-resolved endpoint", "peer", p.PublicKey.String(), "endpoint", ap.String(), "err", err)
		return false
	}
	return true
}

// hasEndpoint reports whether cfg has peer key with Endpoint e.
func hasEndpoint(cfg *config.Config, key config.Key, e config.Endpoint) bool {
	for _, p := range cfg.Peers {
		if p.PublicKey == key {
			return p.Endpoint == e
		}
	}
	return false
}

// liveEndpoint is the device's current endpoint as an AddrPort (zero if none).
func liveEndpoint(e config.Endpoint) netip.AddrPort {
	a, err := netip.ParseAddr(e.Host)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a.Unmap(), e.Port)
}

// resolveFresh looks e's name up again: IPv4 first, IPv6 if there is none.
func resolveFresh(ctx context.Context, r config.Resolver, e config.Endpoint) (netip.AddrPort, error) {
	var errs []error
	for _, network := range []string{"ip4", "ip6"} {
		lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		addrs, err := r.LookupNetIP(lctx, network, e.Host)
		cancel()
		if err == nil && len(addrs) > 0 {
			return netip.AddrPortFrom(addrs[0].Unmap(), e.Port), nil
		}
		if err == nil {
			err = config.ErrNoAddress
		}
		errs = append(errs, fmt.Errorf("%s: %w", network, err))
	}
	return netip.AddrPort{}, fmt.Errorf("resolving %s: %w", e.Host, errors.Join(errs...))
}
