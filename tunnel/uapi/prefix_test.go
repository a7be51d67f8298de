package uapi

import (
	"net/netip"
	"testing"
)

// parsePrefix must agree with netip.ParsePrefix on every input: the fast
// path may only take what netip takes, with the same result.
func TestParsePrefixAgreesWithNetip(t *testing.T) {
	for _, s := range []string{
		"10.100.0.2/32", "0.0.0.0/0", "255.255.255.255/32", "1.2.3.4/8", "10.0.0.0/24",
		"256.1.1.1/32", "01.2.3.4/32", "1.2.3.4/033", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4", "1.2.3/24",
		"1.2.3.4.5/32", "1.2.3.4/3a", "1234.1.1.1/8", "::/0", "fe80::1/64", "::ffff:1.2.3.4/128", "",
		"1.2.3.4/-1", "1.2.3.4 /32", "1.2.3.4/32 ", "1.2.3.4%eth0/32",
	} {
		checkParsePrefix(t, s)
	}
}

func FuzzParsePrefix(f *testing.F) {
	f.Add("10.100.0.2/32")
	f.Add("::/0")
	f.Fuzz(checkParsePrefix)
}

func checkParsePrefix(t *testing.T, s string) {
	got, gotErr := parsePrefix([]byte(s))
	want, wantErr := netip.ParsePrefix(s)
	if got != want || (gotErr == nil) != (wantErr == nil) {
		t.Errorf("parsePrefix(%q) = %v, %v; netip: %v, %v", s, got, gotErr, want, wantErr)
	}
}
