package pathmtu

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
)

// pathMTUWait is how long a probe waits for a router's ICMP "fragmentation
// needed" when probing the path towards the endpoints.
const pathMTUWait = 200 * time.Millisecond

// maxFitProbes bounds the endpoint addresses Fit probes (one socket and one
// datagram each, all at once): a mesh config with thousands of endpoints
// gets the first ones probed, not thousands of sockets.
const maxFitProbes = 64

// Prober measures the path MTU towards dst with a DF-set datagram of size
// bytes; tests substitute it.
type Prober func(ctx context.Context, dst netip.AddrPort, size int) (int, error)

// probeOnce is Fit's default Prober: one datagram, one wait.
func probeOnce(ctx context.Context, dst netip.AddrPort, size int) (int, error) {
	return ProbeContext(ctx, dst, size, 1, pathMTUWait)
}

// wgOverheadFor is what WireGuard adds around an inner packet sent to ep:
// outer IP header, UDP header and 32 bytes of its own.
func wgOverheadFor(ep netip.Addr) int {
	if ep.Unmap().Is4() {
		return 20 + 8 + 32
	}
	return 40 + 8 + 32
}

// Fit lowers mtu, chosen without one in the config, until a tunnel packet
// fits the path MTU towards every endpoint, as far as DF-set probes reveal
// it. The route MTU only tells the first link: a smaller link further on (a
// 1400-byte tunnel, PPPoE) makes big tunnel packets vanish and TCP through
// the tunnel stall. Probes run in parallel, one datagram each, one per
// address; the cost is one wait (or less: see ProbeContext). probe nil is
// the real probe.
func Fit(ctx context.Context, log *slog.Logger, probe Prober, mtu int, endpoints []netip.AddrPort) int {
	if probe == nil {
		probe = probeOnce
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	best := mtu
	seen := map[netip.Addr]bool{}
	for _, ep := range endpoints {
		if !ep.IsValid() || ep.Addr().Zone() != "" || seen[ep.Addr()] {
			continue
		}
		if len(seen) == maxFitProbes {
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
	return max(best, config.MinMTU)
}
