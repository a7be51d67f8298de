package doctor

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// A handshake younger than this proves the path works now: the session it
// made is still in use (wireguard rekeys after 2 minutes).
const freshHandshake = 2 * time.Minute

const reachID = "reach.handshake"

// reachTarget is one peer to reach: who, and where.
type reachTarget struct {
	name     string
	peer     config.Peer
	addr     netip.AddrPort // resolved endpoint
	shown    string         // the endpoint as the user wrote it
	dialsOut bool           // the endpoint is configured here (not learned)
	keyFault bool           // the other side's config shows the keys do not match
}

// noAnswer is the finding for a handshake that got no response.
func noAnswer(r reachTarget, timeout time.Duration, own config.Key) Result {
	if r.keyFault {
		return fail(reachID, r.name,
			fmt.Sprintf("no answer from %s within %s, as expected: the keys do not match (config.peer-key)", r.shown, seconds(timeout)),
			"correct the PublicKey as config.peer-key says")
	}
	return fail(reachID, r.name,
		fmt.Sprintf("no answer from %s within %s: the port is closed, filtered, or the key is wrong", r.shown, seconds(timeout)),
		fmt.Sprintf("on the peer: check it is up and listens on UDP %d (`wgu show`), that no firewall drops that port (`wgu doctor` there), "+
			"and that its [Peer] for this side has PublicKey = %s; here: that PublicKey is the peer's", r.addr.Port(), own.PublicKey()))
}

func seconds(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

// checkReachOffline sends each peer with an Endpoint a real handshake
// initiation from a probe device with this interface's key, and waits for
// the responses.
func checkReachOffline(t *Target, env *environment) []Result {
	var targets []reachTarget
	var rs []Result
	for i, p := range t.Config.Peers {
		if p.Endpoint.IsZero() {
			continue
		}
		ap, err := env.resolve(p.Endpoint)
		if err != nil {
			rs = append(rs, fail(reachID, t.peer(i), fmt.Sprintf("Endpoint %s does not resolve: %v", p.Endpoint, err),
				"fix the host name in Endpoint, or use the peer's IP address"))
			continue
		}
		targets = append(targets, reachTarget{name: t.peer(i), peer: p, addr: ap, shown: p.Endpoint.String(), dialsOut: true, keyFault: t.keyFault(i)})
	}
	if len(targets) == 0 {
		if len(rs) == 0 {
			rs = append(rs, ok(reachID, "", "no peer has an Endpoint: this side waits for its peers to dial in (bring it up and run doctor again to see which did)"))
		}
		return rs
	}
	probe, err := newProbeDevice(t.Config.Interface.PrivateKey.Reveal())
	if err != nil {
		return append(rs, warn(reachID, "", "could not start a probe to send handshakes: "+err.Error(), ""))
	}
	defer probe.close()
	start := time.Now()
	for i, r := range targets {
		if err := probe.initiate(r.peer.PublicKey, r.peer.PresharedKey.Reveal(), r.addr); err != nil {
			rs = append(rs, fail(reachID, r.name, fmt.Sprintf("sending a handshake to %s: %v", r.shown, err),
				"check the route to the endpoint (`ip route get "+r.addr.Addr().String()+"`)"))
			targets[i].name = "" // reported
		}
	}
	done := waitHandshakes(env, targets, probe.handshakes)
	for _, r := range targets {
		if r.name == "" {
			continue
		}
		if at, ok := done[r.peer.PublicKey]; ok {
			rs = append(rs, okHandshake(r, at.Sub(start)))
		} else {
			rs = append(rs, noAnswer(r, env.handshakeTimeout, t.Config.Interface.PrivateKey.Reveal()))
		}
	}
	return rs
}

func okHandshake(r reachTarget, took time.Duration) Result {
	return ok(reachID, r.name, fmt.Sprintf("handshake OK with %s (%d ms)", r.shown, took.Milliseconds()))
}

// waitHandshakes polls until every target completed a handshake or the
// timeout passed, and returns when each completed.
func waitHandshakes(env *environment, targets []reachTarget, poll func() map[config.Key]bool) map[config.Key]time.Time {
	done := map[config.Key]time.Time{}
	deadline := time.Now().Add(env.handshakeTimeout)
	for {
		now := time.Now()
		for k := range poll() {
			if _, seen := done[k]; !seen {
				done[k] = now
			}
		}
		all := true
		for _, r := range targets {
			if _, ok := done[r.peer.PublicKey]; !ok && r.name != "" {
				all = false
			}
		}
		if all || now.After(deadline) {
			return done
		}
		select {
		case <-env.ctx.Done():
			return done
		case <-time.After(pollEvery):
		}
	}
}

// checkReachRunning reads the running device's handshakes. A peer with an
// endpoint and no fresh handshake gets one triggered (through UAPI, as `wg
// set` would) and doctor waits for it; a peer without one that never
// completed a handshake is listed (a hub's spokes that never dialled in).
func checkReachRunning(t *Target, env *environment) []Result {
	run := t.Running
	now := time.Now()
	var rs []Result
	var triggered []reachTarget
	own := run.Status.PrivateKey
	for _, ps := range run.Status.Peers {
		name, configured := t.nameByKey(ps.PublicKey)
		r := reachTarget{name: name, peer: ps.Peer, addr: endpointAddr(ps.Endpoint), shown: ps.Endpoint.String(), dialsOut: !configured.IsZero()}
		if !configured.IsZero() {
			r.shown = configured.String()
		}
		switch {
		case !ps.LastHandshake.IsZero() && now.Sub(ps.LastHandshake) < freshHandshake:
			rs = append(rs, ok(reachID, name, fmt.Sprintf("handshake OK (latest %s ago)", seconds(now.Sub(ps.LastHandshake).Truncate(time.Second)))))
		case ps.Endpoint.IsZero():
			rs = append(rs, neverDialled(name, ps))
		default:
			if err := triggerHandshake(env.ctx, run.Socket, ps.Peer); err != nil {
				rs = append(rs, warn(reachID, name, "could not trigger a handshake: "+err.Error(), ""))
				continue
			}
			triggered = append(triggered, r)
		}
	}
	if len(triggered) == 0 {
		return rs
	}
	poll := func() map[config.Key]bool {
		st, err := uapi.Get(env.ctx, run.Socket)
		if err != nil {
			return nil
		}
		fresh := map[config.Key]bool{}
		for _, p := range st.Peers {
			if p.LastHandshake.After(now.Add(-time.Second)) {
				fresh[p.PublicKey] = true
			}
		}
		return fresh
	}
	done := waitHandshakes(env, triggered, poll)
	for _, r := range triggered {
		switch at, ok := done[r.peer.PublicKey]; {
		case ok:
			rs = append(rs, okHandshake(r, at.Sub(now)))
		case r.dialsOut:
			rs = append(rs, noAnswer(r, env.handshakeTimeout, own.Reveal()))
		default:
			rs = append(rs, fail(reachID, r.name,
				fmt.Sprintf("no answer at its last address %s within %s, and it has no Endpoint here: it must dial in", r.shown, seconds(env.handshakeTimeout)),
				"on that peer: is it up, and does it have PersistentKeepalive = 25 if it is behind NAT? (`wgu doctor` there)"))
		}
	}
	return rs
}

func neverDialled(name string, ps uapi.PeerStatus) Result {
	if ps.LastHandshake.IsZero() {
		return warn(reachID, name, "never completed a handshake, and it has no Endpoint here: it has to dial in",
			"on that peer: check its Endpoint points here and its keys (`wgu doctor` there)")
	}
	return ok(reachID, name, fmt.Sprintf("last handshake %s ago; no Endpoint here, so it dials in when it has traffic",
		seconds(time.Since(ps.LastHandshake).Truncate(time.Second))))
}

func endpointAddr(e config.Endpoint) netip.AddrPort {
	a, err := netip.ParseAddr(e.Host)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, e.Port)
}

// keyFault says whether another side's config shows that the keys between
// this side and its peer i do not match (see checkPair).
func (t *Target) keyFault(i int) bool {
	for _, o := range t.Others {
		si := peerFor(t.Side, o)
		if si < 0 && guessPeerFor(t.Side, o) == i {
			return true
		}
		if si == i && peerFor(o, t.Side) < 0 {
			return true
		}
	}
	return false
}

// nameByKey names a running peer by the config's [Peer] with its key, and
// returns the endpoint configured there.
func (t *Target) nameByKey(k config.Key) (string, config.Endpoint) {
	for i, p := range t.Config.Peers {
		if p.PublicKey == k {
			return t.peer(i), p.Endpoint
		}
	}
	return "peer " + k.String()[:8] + "…", config.Endpoint{}
}

// triggerHandshake makes a running wireguard(-go) device send a keepalive
// to the peer now, which starts a handshake when there is no session: it
// turns the peer's PersistentKeepalive off and back on (wireguard-go sends
// a keepalive when it goes from off to on), then restores it.
func triggerHandshake(ctx context.Context, socket string, p config.Peer) error {
	sel := "public_key=" + p.PublicKey.Hex() + "\nupdate_only=true\n"
	if p.PersistentKeepalive != 0 {
		return uapi.Set(ctx, socket, sel+"persistent_keepalive_interval=0\npersistent_keepalive_interval="+
			strconv.Itoa(int(p.PersistentKeepalive))+"\n")
	}
	if err := uapi.Set(ctx, socket, sel+"persistent_keepalive_interval=1\n"); err != nil {
		return err
	}
	return uapi.Set(ctx, socket, sel+"persistent_keepalive_interval=0\n")
}
