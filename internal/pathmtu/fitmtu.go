package pathmtu

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
)

// pathMTUWait is how long `up` waits for a router's ICMP "fragmentation
// needed" when probing the path towards the endpoints.
const pathMTUWait = 200 * time.Millisecond

// wgOverheadFor is what WireGuard adds around an inner packet sent to ep:
// outer IP header, UDP header and 32 bytes of its own.
func wgOverheadFor(ep netip.Addr) int {
	if ep.Unmap().Is4() {
		return 20 + 8 + 32
	}
	return 40 + 8 + 32
}

// Fit lowers mtu, chosen without one in the config, until a tunnel
// packet fits the path MTU towards every endpoint, as far as DF-set probes
// reveal it. The route MTU only tells the first link: a smaller link
// further on (a 1400-byte tunnel, PPPoE) makes big tunnel packets vanish
// and TCP through the tunnel stall. Probes run in parallel, one datagram
// each; the cost is one wait.
func Fit(log *slog.Logger, mtu int, endpoints []netip.AddrPort) int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	best := mtu
	for _, ep := range endpoints {
		if !ep.IsValid() || ep.Addr().Zone() != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			need := mtu + wgOverheadFor(ep.Addr())
			pmtu, err := Probe(ep, need, 1, pathMTUWait)
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

// LiteralEndpoints are the config's endpoints written as IP addresses.
func LiteralEndpoints(cfg *config.Config) []netip.AddrPort {
	var out []netip.AddrPort
	for _, p := range cfg.Peers {
		if a, err := netip.ParseAddr(p.Endpoint.Host); err == nil {
			out = append(out, netip.AddrPortFrom(a.Unmap(), p.Endpoint.Port))
		}
	}
	return out
}
