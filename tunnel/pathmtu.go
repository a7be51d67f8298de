package tunnel

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/wgu-project/wgu/internal/pathmtu"
)

// pathMTUWait is how long a probe waits for a router's ICMP "fragmentation
// needed" when probing the path towards the endpoints.
const pathMTUWait = 200 * time.Millisecond

// maxPathMTUProbes bounds the endpoint addresses probed (one socket and one
// datagram each, all at once): a mesh config with thousands of endpoints
// gets the first ones probed, not thousands of sockets.
const maxPathMTUProbes = 64

// pathMTUProber measures the path MTU towards dst with a DF-set datagram of
// size bytes; tests substitute it.
type pathMTUProber func(ctx context.Context, dst netip.AddrPort, size int) (int, error)

func probePathMTU(ctx context.Context, dst netip.AddrPort, size int) (int, error) {
	return pathmtu.ProbeContext(ctx, dst, size, 1, pathMTUWait)
}

// wgOverheadFor is what WireGuard adds around an inner packet sent to ep:
// outer IP header, UDP header and 32 bytes of its own.
func wgOverheadFor(ep netip.Addr) int {
	if ep.Unmap().Is4() {
		return 20 + 8 + 32
	}
	return 40 + 8 + 32
}

// fitPathMTU lowers mtu, chosen without one in the config, until a tunnel
// packet fits the path MTU towards every endpoint, as far as DF-set probes
// reveal it. The route MTU only tells the first link: a smaller link
// further on (a 1400-byte tunnel, PPPoE) makes big tunnel packets vanish
// and TCP through the tunnel stall. Probes run in parallel, one datagram
// each, one per address; the cost is one wait.
func fitPathMTU(ctx context.Context, log *slog.Logger, probe pathMTUProber, mtu int, endpoints []netip.AddrPort) int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	best := mtu
	seen := map[netip.Addr]bool{}
	for _, ep := range endpoints {
		if !ep.IsValid() || ep.Addr().Zone() != "" || seen[ep.Addr()] {
			continue
		}
		if len(seen) == maxPathMTUProbes {
			log.Debug("probing the path MTU towards the first endpoints only", "probed", len(seen))
			break
		}
		seen[ep.Addr()] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			need := mtu + wgOverheadFor(ep.Addr())
			pmtu, err := probe(ctx, ep, need)
			if err != nil {
				log.Debug("probing the path MTU", "endpoint", ep.String(), "err", err)
				return
			}
			if pmtu >= need {
				return
			}
			fit := pmtu - wgOverheadFor(ep.Addr())
			log.Info("path MTU towards endpoint is smaller than the route's: lowering the MTU", "endpoint", ep.String(), "path_mtu", pmtu, "mtu", fit)
			mu.Lock()
			best = min(best, fit)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Fitting the path matters more than IPv6's 1280 minimum inside the
	// tunnel; below the smallest MTU a config may set, nothing works.
	return max(best, minMTU)
}

// startPathMTU fits the MTU of a tunnel whose config sets none to the path
// towards its endpoints, in the background: the tunnel runs at the MTU it
// came up with (wg-quick's rule on a TUN, 1420 on a netstack) until the
// probes answer, then the MTU is lowered if the path needs it. Up does not
// wait for the probes (one wait of up to pathMTUWait). Close stops them.
func (t *Tunnel) startPathMTU(endpoints []netip.AddrPort) {
	if t.cfg.Interface.MTU != 0 || len(endpoints) == 0 || (t.ns == nil && t.host == nil) {
		return // set by the config, nothing to probe, or a link that is not ours
	}
	mtu, err := t.tdev.MTU()
	if err != nil {
		t.log.Debug("reading the MTU to probe the path with", "err", err)
		return
	}
	probe := t.opts.probePathMTU
	if probe == nil {
		probe = probePathMTU
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.stopPathMTU = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		if fit := fitPathMTU(ctx, t.log, probe, mtu, endpoints); fit < mtu && ctx.Err() == nil {
			t.lowerMTU(mtu, fit)
		}
	}()
}

// lowerMTU sets the running tunnel's MTU from old to mtu, unless it is
// closing.
func (t *Tunnel) lowerMTU(old, mtu int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return
	}
	var err error
	switch {
	case t.ns != nil:
		err = t.ns.SetMTU(mtu)
	case t.host != nil:
		if err = t.host.lowerMTU(mtu); err == nil && t.opts.runDir != "" {
			err = t.writeState() // the MTU to restore at down
		}
	}
	if err != nil {
		t.log.Warn("lowering the MTU to fit the path towards the endpoints", "mtu", mtu, "err", err)
		return
	}
	t.log.Info("MTU lowered to fit the path towards the endpoints", "old", old, "mtu", mtu)
}
