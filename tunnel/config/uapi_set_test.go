package config

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// fakeResolver answers from a map and records what it was asked.
type fakeResolver struct {
	answers map[string][]netip.Addr
	asked   []string
}

var errNoSuchHost = errors.New("no such host")

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.asked = append(r.asked, network+" "+host)
	addrs, ok := r.answers[host]
	if !ok {
		return nil, errNoSuchHost
	}
	return addrs, nil
}

func TestUAPISet(t *testing.T) {
	c, err := parseString(t, base+`ListenPort = 51820
FwMark = 0x10
Address = 10.0.0.1/24
[Peer]
PublicKey = `+peerPub1+`
PresharedKey = `+testPSK+`
Endpoint = vpn.example.com:51821
AllowedIPs = 10.0.0.2, 10.1.0.1/16
PersistentKeepalive = 25
[Peer]
PublicKey = `+peerPub2+`
Endpoint = fe80::1%eth0:5
AllowedIPs = ::/0
[Socks5]
BindAddress = :1080
`)
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeResolver{answers: map[string][]netip.Addr{
		// net.Resolver answers IPv4 in the IPv4-mapped form.
		"vpn.example.com": {netip.MustParseAddr("::ffff:192.0.2.7"), netip.MustParseAddr("2001:db8::7")},
	}}
	got, err := c.UAPISet(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	want := "private_key=" + mustKey(t, testPriv).Hex() + "\n" +
		"listen_port=51820\nfwmark=16\nreplace_peers=true\n" +
		"public_key=" + mustKey(t, peerPub1).Hex() + "\n" +
		"preshared_key=" + mustKey(t, testPSK).Hex() + "\n" +
		"endpoint=192.0.2.7:51821\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\n" +
		"allowed_ip=10.0.0.2/32\nallowed_ip=10.1.0.1/16\n" +
		"public_key=" + mustKey(t, peerPub2).Hex() + "\n" +
		"endpoint=[fe80::1%eth0]:5\npersistent_keepalive_interval=0\nreplace_allowed_ips=true\n" +
		"allowed_ip=::/0\n"
	if got != want {
		t.Errorf("UAPISet:\n%s\nwant:\n%s", got, want)
	}
	if len(r.asked) != 1 || r.asked[0] != "ip vpn.example.com" {
		t.Errorf("resolver asked %q, want only the host name", r.asked)
	}
}

func TestUAPISetMinimal(t *testing.T) {
	c, err := parseString(t, base)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.UAPISet(context.Background(), &fakeResolver{})
	if err != nil {
		t.Fatal(err)
	}
	// setconf semantics: device fields are always sent, zero if absent.
	want := "private_key=" + mustKey(t, testPriv).Hex() + "\nlisten_port=0\nfwmark=0\nreplace_peers=true\n"
	if got != want {
		t.Errorf("UAPISet = %q, want %q", got, want)
	}
}

func TestUAPISetResolutionError(t *testing.T) {
	c, err := parseString(t, base+"[Peer]\nPublicKey = "+peerPub1+"\nEndpoint = nowhere.invalid:51820\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UAPISet(context.Background(), &fakeResolver{})
	if !errors.Is(err, errNoSuchHost) {
		t.Fatalf("UAPISet = %v, want the resolver's error", err)
	}
	for _, want := range []string{peerPub1, "nowhere.invalid:51820"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestResolveEndpoint(t *testing.T) {
	r := &fakeResolver{answers: map[string][]netip.Addr{
		"v6.example": {netip.MustParseAddr("2001:db8::1")},
		"empty":      {},
	}}
	tests := []struct {
		e    Endpoint
		want string
		err  bool
	}{
		{e: Endpoint{Host: "192.0.2.1", Port: 1}, want: "192.0.2.1:1"},
		{e: Endpoint{Host: "::1", Port: 51820}, want: "[::1]:51820"},
		{e: Endpoint{Host: "fe80::1%lo", Port: 5}, want: "[fe80::1%lo]:5"},
		{e: Endpoint{Host: "v6.example", Port: 7}, want: "[2001:db8::1]:7"},
		{e: Endpoint{Host: "empty", Port: 7}, err: true},
		{e: Endpoint{Host: "missing", Port: 7}, err: true},
		{e: Endpoint{}, err: true},
	}
	for _, tt := range tests {
		got, err := ResolveEndpoint(context.Background(), r, tt.e)
		if tt.err {
			if err == nil {
				t.Errorf("ResolveEndpoint(%+v) = %v, want an error", tt.e, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ResolveEndpoint(%+v) = %v, %v; want %s", tt.e, got, err, tt.want)
		}
	}
	for _, a := range r.asked {
		if strings.Contains(a, ":") || strings.Contains(a, "192.0.2.1") {
			t.Errorf("a literal IP was looked up: %q", a)
		}
	}
}
