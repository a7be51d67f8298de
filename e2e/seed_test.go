package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
)

// Addresses of issue 2's seed scenario. They exist only inside the lab's
// namespaces.
var (
	hubPublic   = netip.MustParsePrefix("172.31.0.1/24")   // the VPS, on the "internet" link
	routerWAN   = netip.MustParsePrefix("172.31.0.254/24") // the home NAT router, internet side
	routerLAN   = netip.MustParsePrefix("192.168.50.1/24")
	homelabLAN  = netip.MustParsePrefix("192.168.50.2/24")
	hubPhoneLnk = netip.MustParsePrefix("172.30.0.1/24") // a plain link hub–phone
	phoneLink   = netip.MustParsePrefix("172.30.0.2/24")
	hubWG       = netip.MustParseAddr("10.0.0.1")
	homelabWG   = netip.MustParseAddr("10.0.0.2")
	phoneWG     = netip.MustParseAddr("10.0.0.3")
)

// hubPort is the hub's ListenPort.
const hubPort = 51820

// seedLab is the seed scenario: a hub (VPS) with a public address, and a
// home lab behind a masquerading NAT router that dials the hub; the hub has
// no endpoint for the home lab and learns it from the first handshake.
type seedLab struct {
	lab                  *Lab
	hub, homelab, router *Netns
	hubIf, homeIf        string
	hubKey, homeKey      keyPair
	hubConf, homeConf    string // config paths (NAME.conf in dir)
	dir                  string
}

// newSeedLab builds the namespaces and writes both configs; nothing is up.
func newSeedLab(t *testing.T) *seedLab {
	t.Helper()
	RequireE2E(t)
	lab := NewLab(t)
	s := &seedLab{
		lab: lab, dir: t.TempDir(),
		hub: lab.Netns("hub"), homelab: lab.Netns("homelab"), router: lab.Netns("router"),
		hubIf: lab.IfName("hub"), homeIf: lab.IfName("home"),
		hubKey: newKeyPair(t), homeKey: newKeyPair(t),
	}
	lab.Link(s.router, s.homelab, routerLAN, homelabLAN)
	lab.Link(s.router, s.hub, routerWAN, hubPublic)
	lab.NAT(s.router, s.homelab, s.hub)
	s.hubConf = writeConfig(t, s.dir, s.hubIf, s.hubConfig(""))
	s.homeConf = writeConfig(t, s.dir, s.homeIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24

[Peer]
# the hub
PublicKey = %s
Endpoint = %s:%d
PersistentKeepalive = 25
AllowedIPs = 10.0.0.0/24
`, s.homeKey.Private, homelabWG, s.hubKey.Public, hubPublic.Addr(), hubPort))
	return s
}

// hubConfig is the hub's config, with extra appended (more peers).
func (s *seedLab) hubConfig(extra string) string {
	return fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d
PostUp = sysctl -w net.ipv4.ip_forward=1

[Peer]
# the home lab, behind NAT: no Endpoint, the hub learns it from the handshake
PublicKey = %s
AllowedIPs = %s/32
`, s.hubKey.Private, hubWG, hubPort, s.homeKey.Public, homelabWG) + extra
}

// up brings the hub, then the home lab up, and waits until the home lab
// reaches the hub through the tunnel.
func (s *seedLab) up(ctx context.Context, t *testing.T) {
	t.Helper()
	wguUp(ctx, t, s.hub, s.hubConf)
	wguUp(ctx, t, s.homelab, s.homeConf)
	if err := s.homelab.Ping(ctx, hubWG); err != nil {
		t.Fatalf("%v%s%s", err, daemonLog(s.hubIf), daemonLog(s.homeIf))
	}
}
