package doctor

import (
	"context"
	"fmt"

	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/wgu-project/wgu/internal/pathmtu"

	"github.com/wgu-project/wgu/tunnel"
)

// Run runs every check that applies to t and returns the results in a
// stable order: config, reachability, host, MTU, rootless.
func Run(ctx context.Context, t *Target, o Options) []Result {
	env := newEnvironment(ctx, o)
	return run(t, env, func(dst netip.AddrPort, size int) (int, error) {
		return pathmtu.Probe(dst, size, 3, pathmtu.DefaultWait)
	})
}

func run(t *Target, env *environment, probe pathMTUProber) []Result {
	rs := checkConfig(t, env)
	var endpoints []reachTarget
	if t.Running != nil {
		rs = append(rs, checkReachRunning(t, env)...)
		endpoints = runningEndpoints(t)
	} else {
		rs = append(rs, checkReachOffline(t, env)...)
		endpoints = configEndpoints(t, env)
	}
	if t.Running != nil && t.Running.Link != "" {
		rs = append(rs, checkHost(t, env)...)
	}
	rs = append(rs, checkFirewall(env.ctx, listenPort(t))...)
	ifMTU, desc := interfaceMTU(t, env, endpoints)
	fitsAtUp := t.Running == nil && t.Config.Interface.MTU == 0
	rs = append(rs, checkMTU(ifMTU, desc, fitsAtUp, endpoints, probe)...)
	if t.isRootless() {
		rs = append(rs, checkRootless(t)...)
	}
	return rs
}

func (t *Target) isRootless() bool {
	if t.Running != nil {
		return t.Running.Mode == tunnel.ModeNetstack
	}
	return len(t.Config.Services) > 0
}

func listenPort(t *Target) uint16 {
	if t.Running != nil && t.Running.Status != nil {
		return t.Running.Status.ListenPort
	}
	return t.Config.Interface.ListenPort
}

// configEndpoints are the configured endpoints, resolved.
func configEndpoints(t *Target, env *environment) []reachTarget {
	var out []reachTarget
	for i, p := range t.Config.Peers {
		if p.Endpoint.IsZero() {
			continue
		}
		ap, err := env.resolve(p.Endpoint)
		if err != nil {
			continue
		}
		out = append(out, reachTarget{name: t.peer(i), peer: p, addr: ap, shown: p.Endpoint.String(), dialsOut: true})
	}
	return out
}

// runningEndpoints are the endpoints the device uses now: configured ones
// and those learned from a peer's handshake.
func runningEndpoints(t *Target) []reachTarget {
	var out []reachTarget
	for _, ps := range t.Running.Status.Peers {
		ap := endpointAddr(ps.Endpoint)
		if !ap.IsValid() {
			continue
		}
		name, configured := t.nameByKey(ps.PublicKey)
		shown := ap.String()
		if !configured.IsZero() {
			shown = configured.String()
		}
		out = append(out, reachTarget{name: name, peer: ps.Peer, addr: ap, shown: shown, dialsOut: !configured.IsZero()})
	}
	return out
}

// interfaceMTU is the MTU the tunnel has or will have, and where it comes
// from: the link's in TUN mode; the config's; else wg-quick's rule (the
// smallest route MTU towards the endpoints, minus 80) for a TUN not up;
// else 1420.
func interfaceMTU(t *Target, env *environment, endpoints []reachTarget) (int, string) {
	if t.Running != nil && t.Running.Link != "" {
		if l, err := netlink.LinkByName(t.Running.Link); err == nil {
			return l.Attrs().MTU, fmt.Sprintf("MTU %d of %s", l.Attrs().MTU, t.Running.Link)
		}
	}
	if m := t.Config.Interface.MTU; m > 0 {
		return m, fmt.Sprintf("MTU = %d in the config", m)
	}
	if t.isRootless() {
		return defaultMTU, fmt.Sprintf("the default MTU %d", defaultMTU)
	}
	best := 0
	for _, e := range endpoints {
		if r, err := env.net.Route(e.addr.Addr().Unmap()); err == nil && r.MTU > 0 && (best == 0 || r.MTU < best) {
			best = r.MTU
		}
	}
	if best == 0 {
		return defaultMTU, fmt.Sprintf("the default MTU %d", defaultMTU)
	}
	return best - autoMTUGap, fmt.Sprintf("MTU %d: route MTU %d - %d", best-autoMTUGap, best, autoMTUGap)
}
