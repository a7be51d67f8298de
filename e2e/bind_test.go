package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A hub with one IPv4 and two IPv6 spokes answers each of them in turn,
// and keeps answering the IPv4 spoke after it roams to IPv6. wireguard-go's
// own bind sent the IPv6 datagram after an IPv4 one to an address made of
// 4 new and 12 stale bytes, so replies went missing (issue 17).
func TestHubAnswersIPv4AndIPv6PeersInTurn(t *testing.T) {
	RequireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	lab := NewLab(t)
	hub, a, b, c := lab.Netns("hub"), lab.Netns("a"), lab.Netns("b"), lab.Netns("c")
	la := lab.Link(hub, a, netip.MustParsePrefix("172.29.1.1/24"), netip.MustParsePrefix("172.29.1.2/24"))
	lb := lab.Link(hub, b, netip.MustParsePrefix("fd29:2::1/64"), netip.MustParsePrefix("fd29:2::b/64"))
	lc := lab.Link(hub, c, netip.MustParsePrefix("fd29:3::1/64"), netip.MustParsePrefix("fd29:3::c/64"))
	// a also gets IPv6 on its link, to roam to later. The low 12 bytes of
	// every spoke's IPv6 address differ, so a stale address is a wrong one.
	hub.MustRun("ip", "addr", "add", "fd29:1::1/64", "dev", la.AIf, "nodad")
	a.MustRun("ip", "addr", "add", "fd29:1::a/64", "dev", la.BIf, "nodad")
	for _, l := range []*Link{lb, lc} {
		waitNoTentative(ctx, t, l.A)
		waitNoTentative(ctx, t, l.B)
	}

	hubKey, ak, bk, ck := newKeyPair(t), newKeyPair(t), newKeyPair(t), newKeyPair(t)
	dir := t.TempDir()
	hubIf := lab.IfName("hub")
	wguUp(ctx, t, hub, writeConfig(t, dir, hubIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.9.0.1/24
ListenPort = %d

[Peer]
PublicKey = %s
AllowedIPs = 10.9.0.2/32

[Peer]
PublicKey = %s
AllowedIPs = 10.9.0.3/32

[Peer]
PublicKey = %s
AllowedIPs = 10.9.0.4/32
`, hubKey.Private, hubPort, ak.Public, bk.Public, ck.Public)))
	spokes := []struct {
		ns       *Netns
		key      keyPair
		wg       netip.Addr
		endpoint string
	}{
		{a, ak, netip.MustParseAddr("10.9.0.2"), fmt.Sprintf("172.29.1.1:%d", hubPort)},
		{b, bk, netip.MustParseAddr("10.9.0.3"), fmt.Sprintf("[fd29:2::1]:%d", hubPort)},
		{c, ck, netip.MustParseAddr("10.9.0.4"), fmt.Sprintf("[fd29:3::1]:%d", hubPort)},
	}
	hubWG := netip.MustParseAddr("10.9.0.1")
	for i, s := range spokes {
		wguUp(ctx, t, s.ns, writeConfig(t, dir, lab.IfName(fmt.Sprintf("s%d", i)), fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24

[Peer]
PublicKey = %s
Endpoint = %s
AllowedIPs = 10.9.0.0/24
`, s.key.Private, s.wg, hubKey.Public, s.endpoint)))
		// The spoke's first packet tells the hub its endpoint.
		s.ns.MustPing(hubWG, 10*time.Second)
	}

	lost := func(rounds int) []string {
		var missing []string
		for r := range rounds {
			for _, s := range spokes {
				if _, _, err := hub.Run(ctx, "ping", "-n", "-c", "1", "-W", "1", s.wg.String()); err != nil {
					missing = append(missing, fmt.Sprintf("round %d: %s", r, s.wg))
				}
			}
		}
		return missing
	}
	if missing := lost(8); len(missing) > 0 {
		t.Fatalf("the hub lost %d of 24 replies to spokes on IPv4, IPv6, IPv6 in turn: %s", len(missing), strings.Join(missing, ", "))
	}

	// a roams from IPv4 to IPv6; its next packet moves the hub's endpoint.
	mustWgu(ctx, t, a, "set", lab.IfName("s0"), "peer", hubKey.Public, "endpoint", fmt.Sprintf("[fd29:1::1]:%d", hubPort))
	a.MustPing(hubWG, 10*time.Second)
	show := mustWgu(ctx, t, hub, "show", hubIf, "endpoints")
	if !strings.Contains(show, "[fd29:1::a]:") {
		t.Fatalf("the hub did not follow a to IPv6:\n%s", show)
	}
	if missing := lost(8); len(missing) > 0 {
		t.Fatalf("after a roamed to IPv6 the hub lost %d of 24 replies: %s", len(missing), strings.Join(missing, ", "))
	}
}

// waitNoTentative waits until IPv6 duplicate address detection is done on
// every address of ns: a tentative address neither sends nor receives.
func waitNoTentative(ctx context.Context, t *testing.T, ns *Netns) {
	t.Helper()
	if err := waitFor(ctx, ns.Role+"'s IPv6 addresses", func() bool {
		out, _, err := ns.Run(ctx, "ip", "-6", "addr", "show", "tentative")
		return err == nil && strings.TrimSpace(out) == ""
	}); err != nil {
		t.Fatal(err)
	}
}
