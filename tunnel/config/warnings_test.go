package config

import (
	"net/netip"
	"strings"
	"testing"
)

func warningTexts(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

func TestConfigWarnings(t *testing.T) {
	text := `[Interface]
PrivateKey = ` + testPriv + `
Address = 10.0.0.1/24

[Peer]
PublicKey = ` + peerPub1 + `
Endpoint = 192.0.2.1:51820
AllowedIPs = 10.0.0.2/32, 10.9.0.0/16

[Peer]
# no Endpoint here, and no ListenPort above: nobody can start a handshake
PublicKey = ` + peerPub2 + `
AllowedIPs = 10.0.0.3/32
AllowedIPs = 10.9.0.0/16
`
	cfg, err := ParseConfig("wg0.conf", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	got := warningTexts(cfg.Warnings())
	want := []string{
		"wg0.conf:14: AllowedIPs: 10.9.0.0/16 is also in the AllowedIPs of the [Peer] on line 5: only this later peer gets it, the earlier one loses the route",
		"wg0.conf:10: this peer has no Endpoint and [Interface] has no ListenPort, so neither side can start a handshake (give the peer an Endpoint, or this interface a ListenPort the peer connects to)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// With a ListenPort the peer may connect: no handshake warning.
	cfg, err = ParseConfig("wg0.conf", strings.NewReader(strings.Replace(text, "Address", "ListenPort = 51820\nAddress", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := warningTexts(cfg.Warnings()); len(got) != 1 || !strings.HasPrefix(got[0], "wg0.conf:15: AllowedIPs: 10.9.0.0/16") {
		t.Errorf("with a ListenPort: %q", got)
	}

	// A config built in code names peers by key; its own key is flagged.
	own := mustKey(t, testPriv)
	coded := &Config{Interface: Interface{PrivateKey: own.Secret(), ListenPort: 1},
		Peers: []Peer{
			{PublicKey: mustKey(t, peerPub1), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}},
			{PublicKey: own.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.7/24")}},
		}}
	got = warningTexts(coded.Warnings())
	if len(got) != 2 || !strings.Contains(got[0], testPub+" is this interface's own public key") ||
		!strings.Contains(got[1], "10.0.0.7/24 is also in the AllowedIPs of peer "+peerPub1) {
		t.Errorf("code-built config warnings: %q", got)
	}
}

func TestMissingPrivateKeySuggestsWguGenkey(t *testing.T) {
	_, err := ParseConfig("wg0.conf", strings.NewReader("[Interface]\nAddress = 10.0.0.1/24\n"))
	if err == nil || !strings.Contains(err.Error(), "make one with `wgu genkey`") {
		t.Fatalf("err = %v, want a hint to run wgu genkey", err)
	}
}
