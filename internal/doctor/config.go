package doctor

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/crypto/curve25519"

	"github.com/wgu-project/wgu/tunnel/config"
)

// checkConfig runs the checks that need only the configs (and, for NAT, the
// host's route towards each endpoint).
func checkConfig(t *Target, env *environment) []Result {
	var rs []Result
	rs = append(rs, checkKeys(t)...)
	rs = append(rs, checkOwnKey(t.Side)...)
	rs = append(rs, checkDuplicateAllowedIPs(t.Side)...)
	if len(t.Others) == 0 {
		// With the other side's config, checkPair says precisely which
		// address is missing; this is the guess for one file alone.
		rs = append(rs, checkAddressSubnet(t.Side)...)
	}
	for _, o := range t.Others {
		rs = append(rs, checkPair(t.Side, o)...)
	}
	rs = append(rs, checkKeepalive(t.Side, env)...)
	return rs
}

// checkKeys: every key usable, and, with the other side's config, each
// side's PublicKey for the other really the other's.
func checkKeys(t *Target) []Result {
	const id = "config.keys"
	var rs []Result
	priv := t.Config.Interface.PrivateKey
	if priv.IsZero() {
		return []Result{fail(id, "", "the interface has no PrivateKey", "PrivateKey = <output of `wg genkey`>")}
	}
	clamped := priv.Reveal().Clamp()
	for i, p := range t.Config.Peers {
		if _, err := curve25519.X25519(clamped[:], p.PublicKey[:]); err != nil {
			rs = append(rs, fail(id, t.peer(i), "PublicKey "+p.PublicKey.String()+" is not a usable public key (a low-order point)",
				"set PublicKey to the output of `wg pubkey` run on that peer's private key"))
		}
		for _, o := range t.Others {
			if p.PublicKey == o.Config.Interface.PrivateKey.Reveal() {
				rs = append(rs, fail(id, t.peer(i), "PublicKey is "+o.name()+"'s private key, not its public key",
					fmt.Sprintf("PublicKey = %s, and make a new key pair for %s: its private key was exposed", o.publicKey(), o.name())))
			}
		}
	}
	if len(rs) == 0 {
		return []Result{ok(id, "", fmt.Sprintf("keys valid (%d peer(s))", len(t.Config.Peers)))}
	}
	return rs
}

// checkOwnKey: a peer carrying this interface's own public key (pasted from
// the wrong side) can never complete a handshake.
func checkOwnKey(s *Side) []Result {
	const id = "config.own-key"
	own := s.publicKey()
	var rs []Result
	for i, p := range s.Config.Peers {
		if p.PublicKey == own {
			rs = append(rs, fail(id, s.peer(i), "PublicKey is this interface's own public key (pasted from the wrong side)",
				"set PublicKey to the other side's public key (`wg pubkey` of its PrivateKey, or `wgu show` there)"))
		}
	}
	if len(rs) == 0 {
		return []Result{ok(id, "", "no peer has this interface's own public key")}
	}
	return rs
}

// checkDuplicateAllowedIPs: an AllowedIPs entry on two peers belongs to the
// last one only; the first gets no traffic for it.
func checkDuplicateAllowedIPs(s *Side) []Result {
	const id = "config.duplicate-allowedips"
	owners := map[netip.Prefix][]int{}
	var order []netip.Prefix
	for i, p := range s.Config.Peers {
		for _, a := range p.AllowedIPs {
			a = a.Masked()
			if len(owners[a]) == 0 {
				order = append(order, a)
			}
			if !slices.Contains(owners[a], i) {
				owners[a] = append(owners[a], i)
			}
		}
	}
	var rs []Result
	for _, a := range order {
		ps := owners[a]
		if len(ps) < 2 {
			continue
		}
		names := make([]string, len(ps))
		for j, i := range ps {
			names[j] = s.peer(i)
		}
		last := names[len(names)-1]
		rs = append(rs, fail(id, a.String(),
			fmt.Sprintf("AllowedIPs %s is on %s: only the last, %s, gets its traffic", a, strings.Join(names, " and "), last),
			fmt.Sprintf("keep %s on one peer only (each peer's own tunnel address, e.g. AllowedIPs = 10.0.0.N/32)", a)))
	}
	if len(rs) == 0 {
		return []Result{ok(id, "", "no AllowedIPs on two peers")}
	}
	return rs
}

// checkAddressSubnet: the interface's own subnet should reach some peer,
// else nothing else on the tunnel is reachable. Host addresses (/32, /128)
// say nothing about the subnet and are not checked.
func checkAddressSubnet(s *Side) []Result {
	const id = "config.address"
	if len(s.Config.Peers) == 0 || len(s.Config.Interface.Addresses) == 0 {
		return nil
	}
	var rs []Result
	for _, a := range s.Config.Interface.Addresses {
		if a.Bits() == a.Addr().BitLen() {
			continue
		}
		subnet := a.Masked()
		if !anyPeerOverlaps(s.Config.Peers, subnet) {
			rs = append(rs, fail(id, a.String(),
				fmt.Sprintf("Address %s is outside every peer's AllowedIPs: nothing else on %s is reachable through the tunnel", a, subnet),
				fmt.Sprintf("add %s (or the addresses you need) to the hub's [Peer] AllowedIPs", subnet)))
		}
	}
	if len(rs) == 0 {
		return []Result{ok(id, "", "the interface's subnets are routed to peers")}
	}
	return rs
}

func anyPeerOverlaps(peers []config.Peer, p netip.Prefix) bool {
	for _, peer := range peers {
		for _, a := range peer.AllowedIPs {
			if a.Overlaps(p) {
				return true
			}
		}
	}
	return false
}

func covers(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerFor returns the index of s's [Peer] for o, -1 if none has o's key.
func peerFor(s, o *Side) int {
	pub := o.publicKey()
	for i, p := range s.Config.Peers {
		if p.PublicKey == pub {
			return i
		}
	}
	return -1
}

// guessPeerFor picks which of s's peers was meant to be o when none has
// o's key: one whose AllowedIPs hold o's address, or the only peer.
func guessPeerFor(s, o *Side) int {
	for i, p := range s.Config.Peers {
		for _, a := range o.Config.Interface.Addresses {
			if covers(p.AllowedIPs, a.Addr()) {
				return i
			}
		}
	}
	if len(s.Config.Peers) == 1 {
		return 0
	}
	return -1
}

// checkPair checks this side s against another side's config o: each has
// the other's key, AllowedIPs hold the other's tunnel address, and at least
// one side can start a handshake (an Endpoint towards a ListenPort).
func checkPair(s, o *Side) []Result {
	si, oi := peerFor(s, o), peerFor(o, s)
	var rs []Result
	if si < 0 {
		if g := guessPeerFor(s, o); g >= 0 {
			rs = append(rs, fail("config.peer-key", s.peer(g),
				fmt.Sprintf("PublicKey is not %s's public key: its handshakes are ignored", o.name()),
				fmt.Sprintf("PublicKey = %s", o.publicKey())))
		} else {
			rs = append(rs, fail("config.peer-key", "",
				fmt.Sprintf("no [Peer] has %s's public key", o.name()),
				fmt.Sprintf("add a [Peer] with PublicKey = %s", o.publicKey())))
		}
	}
	if oi < 0 {
		if g := guessPeerFor(o, s); g >= 0 {
			rs = append(rs, fail("config.peer-key", o.name()+": "+o.peer(g),
				fmt.Sprintf("%s's PublicKey for this interface is not this interface's public key", o.name()),
				fmt.Sprintf("in %s: PublicKey = %s", o.name(), s.publicKey())))
		} else {
			rs = append(rs, fail("config.peer-key", o.name(),
				fmt.Sprintf("%s has no [Peer] with this interface's public key", o.name()),
				fmt.Sprintf("in %s: add a [Peer] with PublicKey = %s", o.name(), s.publicKey())))
		}
	}
	if si < 0 || oi < 0 {
		return rs
	}
	rs = append(rs, ok("config.peer-key", s.peer(si), "keys match "+o.name()))
	rs = append(rs, checkCoversAddress(s, si, o), checkCoversAddress(o, oi, s))
	rs = append(rs, checkEndpointPair(s, si, o, oi))
	return rs
}

// checkCoversAddress: s's AllowedIPs for peer i (which is o) must hold o's
// tunnel addresses, or everything o sends from them is dropped by s.
func checkCoversAddress(s *Side, i int, o *Side) Result {
	const id = "config.allowedips"
	p := s.Config.Peers[i]
	subject := s.name() + ": " + s.peer(i)
	var missing []string
	for _, a := range o.Config.Interface.Addresses {
		if !covers(p.AllowedIPs, a.Addr()) {
			missing = append(missing, a.Addr().String())
		}
	}
	if len(missing) == 0 {
		return ok(id, subject, fmt.Sprintf("AllowedIPs include %s's tunnel address", o.name()))
	}
	what := o.name() + "'s tunnel address"
	if len(o.Config.Peers) > 1 {
		what = "the hub's (" + o.name() + ") address"
	}
	fixes := make([]string, len(missing))
	for j, m := range missing {
		fixes[j] = netip.PrefixFrom(netip.MustParseAddr(m), netip.MustParseAddr(m).BitLen()).String()
	}
	return fail(id, subject,
		fmt.Sprintf("AllowedIPs (%s) do not include %s %s: packets from it are dropped and none are sent to it",
			joinPrefixes(p.AllowedIPs), what, strings.Join(missing, ", ")),
		fmt.Sprintf("in %s: AllowedIPs = %s", s.name(), joinPrefixes(p.AllowedIPs)+", "+strings.Join(fixes, ", ")))
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// checkEndpointPair: someone has to dial. With no Endpoint on either side
// neither can start a handshake; an Endpoint must point at the other's
// ListenPort.
func checkEndpointPair(s *Side, si int, o *Side, oi int) Result {
	const id = "config.endpoint"
	sp, op := s.Config.Peers[si], o.Config.Peers[oi]
	switch {
	case sp.Endpoint.IsZero() && op.Endpoint.IsZero():
		return fail(id, s.peer(si),
			fmt.Sprintf("neither this interface nor %s has an Endpoint for the other: no side can start a handshake", o.name()),
			fmt.Sprintf("Endpoint = <%s's public address>:%d on this [Peer] (and ListenPort on %s)", o.name(), listenPortOr(o, 51820), o.name()))
	case !sp.Endpoint.IsZero():
		if r := endpointPort(s, si, sp, o); r != nil {
			return *r
		}
	case !op.Endpoint.IsZero():
		if r := endpointPort(o, oi, op, s); r != nil {
			return *r
		}
	}
	return ok(id, s.peer(si), "an Endpoint lets one side start the handshake")
}

func listenPortOr(s *Side, def uint16) uint16 {
	if p := s.Config.Interface.ListenPort; p != 0 {
		return p
	}
	return def
}

// endpointPort checks that peer i of s (which is o) points at o's ListenPort.
func endpointPort(s *Side, i int, p config.Peer, o *Side) *Result {
	const id = "config.endpoint"
	lp := o.Config.Interface.ListenPort
	switch {
	case lp == 0:
		r := fail(id, s.name()+": "+s.peer(i),
			fmt.Sprintf("Endpoint %s, but %s has no ListenPort: it listens on a random port", p.Endpoint, o.name()),
			fmt.Sprintf("in %s: ListenPort = %d", o.name(), p.Endpoint.Port))
		return &r
	case lp != p.Endpoint.Port:
		r := fail(id, s.name()+": "+s.peer(i),
			fmt.Sprintf("Endpoint %s, but %s listens on port %d", p.Endpoint, o.name(), lp),
			fmt.Sprintf("in %s: Endpoint = %s:%d", s.name(), hostForEndpoint(p.Endpoint), lp))
		return &r
	}
	return nil
}

func hostForEndpoint(e config.Endpoint) string {
	if strings.Contains(e.Host, ":") {
		return "[" + e.Host + "]"
	}
	return e.Host
}

// checkKeepalive: behind NAT, the mapping that lets the hub reach this side
// expires within minutes of silence; only PersistentKeepalive keeps it.
// NAT is assumed when the source address towards the endpoint is private
// and the endpoint is public (certain) or behind a gateway (likely).
func checkKeepalive(s *Side, env *environment) []Result {
	const id = "config.keepalive"
	var rs []Result
	checked := false
	for i, p := range s.Config.Peers {
		if p.Endpoint.IsZero() || p.PersistentKeepalive != 0 {
			continue
		}
		ip, err := netip.ParseAddr(p.Endpoint.Host)
		if err != nil {
			ap, err := env.resolve(p.Endpoint)
			if err != nil {
				continue // reach.handshake says why
			}
			ip = ap.Addr()
		}
		route, err := env.net.Route(ip.Unmap())
		if err != nil || !route.Src.IsValid() {
			continue
		}
		checked = true
		if !isPrivate(route.Src) {
			continue
		}
		fix := "PersistentKeepalive = 25 on this [Peer]"
		switch {
		case !isPrivate(ip.Unmap()):
			rs = append(rs, fail(id, s.peer(i),
				fmt.Sprintf("this side is behind NAT (source %s towards %s) and has no PersistentKeepalive: the peer cannot reach it once the NAT forgets the mapping", route.Src, p.Endpoint),
				fix))
		case route.ViaGateway:
			rs = append(rs, warn(id, s.peer(i),
				fmt.Sprintf("this side is probably behind NAT (private source %s, %s is behind a gateway) and has no PersistentKeepalive: the peer cannot reach it once the NAT forgets the mapping", route.Src, p.Endpoint),
				fix))
		}
	}
	if len(rs) == 0 && checked {
		return []Result{ok(id, "", "no peer needs PersistentKeepalive for NAT")}
	}
	return rs
}

// cgnat is RFC 6598's shared address space, used by carrier-grade NAT.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func isPrivate(a netip.Addr) bool {
	return a.IsPrivate() || cgnat.Contains(a) || a.IsLinkLocalUnicast()
}
