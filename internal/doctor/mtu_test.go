package doctor

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheckMTU(t *testing.T) {
	ep := []reachTarget{{name: "peer hub", addr: netip.MustParseAddrPort("192.0.2.1:51820"), shown: "192.0.2.1:51820"}}
	path1400 := func(netip.AddrPort, int) (int, error) { return 1400, nil }
	cases := []struct {
		name     string
		mtu      int
		fitsAtUp bool
		status   Status
		says     string
	}{
		{"fits", 1340, false, OK, "1400 bytes"},
		{"too big", 1420, false, Fail, "MTU = 1340"},
		{"too big, but up fits it", 1420, true, OK, "will set MTU 1340"},
	}
	for _, tc := range cases {
		rs := checkMTU(tc.mtu, "MTU x", tc.fitsAtUp, ep, path1400)
		if len(rs) != 1 || rs[0].Status != tc.status || !strings.Contains(rs[0].Finding+rs[0].Fix, tc.says) {
			t.Errorf("%s: %+v, want %s saying %q", tc.name, rs, tc.status, tc.says)
		}
	}
	v6 := []reachTarget{{name: "peer hub", addr: netip.MustParseAddrPort("[2001:db8::1]:51820"), shown: "[2001:db8::1]:51820"}}
	if rs := checkMTU(1420, "MTU x", false, v6, path1400); rs[0].Status != Fail || !strings.Contains(rs[0].Fix, "MTU = 1320") {
		t.Errorf("IPv6: %+v, want MTU = 1320 (80 bytes of overhead)", rs)
	}
}
