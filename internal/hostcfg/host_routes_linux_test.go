package hostcfg

import (
	"net/netip"
	"testing"
)

// TestLinkRoutesCovers checks the one-listing coverage test against what
// `ip route show dev LINK match PFX` answers for the same routes.
func TestLinkRoutesCovers(t *testing.T) {
	lr := &linkRoutes{dsts: map[netip.Prefix]struct{}{}}
	for _, dst := range []string{"10.100.0.0/16", "fd00:9::/64", "192.168.7.5/32"} {
		lr.add(netip.MustParsePrefix(dst))
	}
	for pfx, want := range map[string]bool{
		"10.100.3.4/32":         true,  // inside the /16
		"10.100.0.0/16":         true,  // the route itself
		"10.100.0.0/15":         false, // shorter than the route
		"10.101.0.1/32":         false,
		"192.168.7.5/32":        true,
		"192.168.7.4/31":        false,
		"fd00:9::7/128":         true,
		"fd00:9::/48":           false,
		"::ffff:10.100.0.1/128": false, // an IPv6 prefix is never covered by an IPv4 route
	} {
		if got := lr.covers(netip.MustParsePrefix(pfx)); got != want {
			t.Errorf("covers(%s) = %v, want %v", pfx, got, want)
		}
	}
	lr.default6 = true
	if !lr.covers(netip.MustParsePrefix("fd00:aa::/48")) || lr.covers(netip.MustParsePrefix("10.101.0.1/32")) {
		t.Error("an IPv6 default route must cover IPv6 prefixes only")
	}
}
