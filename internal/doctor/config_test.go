package doctor

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// fakeNet answers route lookups from a table.
type fakeNet map[netip.Addr]Route

func (f fakeNet) Route(dst netip.Addr) (Route, error) {
	r, ok := f[dst]
	if !ok {
		return Route{}, fmt.Errorf("no route to %s", dst)
	}
	return r, nil
}

func key(t *testing.T) config.Key {
	t.Helper()
	k, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Reveal()
}

func side(t *testing.T, name, text string) *Side {
	t.Helper()
	cfg, err := config.ParseConfig(name, strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name = trimConf(name)
	return &Side{Config: cfg, Path: name, labels: scanPeerLabels(strings.NewReader(text))}
}

// notOK returns the IDs of the results that are not OK, with their findings.
func notOK(rs []Result) map[string]string {
	m := map[string]string{}
	for _, r := range rs {
		if r.Status != OK {
			m[r.ID] += r.Subject + ": " + r.Finding + " | " + r.Fix + "\n"
		}
	}
	return m
}

func TestConfigChecks(t *testing.T) {
	hubKey, aKey, bKey := key(t), key(t), key(t)
	hub := func(peers string) string {
		return fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = 10.0.0.1/24\nListenPort = 51820\n%s", hubKey, peers)
	}
	peer := func(comment string, k config.Key, allowed string) string {
		return fmt.Sprintf("\n[Peer]\n# %s\nPublicKey = %s\nAllowedIPs = %s\n", comment, k.PublicKey(), allowed)
	}
	spoke := func(k config.Key, addr, hubPub, allowed, extra string) string {
		return fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = %s\n\n[Peer]\n# the hub\nPublicKey = %s\nEndpoint = 203.0.113.1:51820\nAllowedIPs = %s\n%s",
			k, addr, hubPub, allowed, extra)
	}
	goodHub := hub(peer("spoke a", aKey, "10.0.0.2/32") + peer("spoke b", bKey, "10.0.0.3/32"))
	public := fakeNet{netip.MustParseAddr("203.0.113.1"): {Src: netip.MustParseAddr("198.51.100.7")}}
	natted := fakeNet{netip.MustParseAddr("203.0.113.1"): {Src: netip.MustParseAddr("192.168.1.5"), ViaGateway: true}}

	cases := []struct {
		name   string
		target string
		other  string // "" for none
		net    fakeNet
		want   []string // IDs not OK
		says   string   // a phrase the finding must contain
	}{
		{name: "healthy hub", target: goodHub, net: public},
		{name: "healthy spoke with hub config", target: spoke(aKey, "10.0.0.2/24", hubKey.PublicKey().String(), "10.0.0.0/24", "PersistentKeepalive = 25\n"), other: goodHub, net: natted},
		{name: "duplicate AllowedIPs", target: hub(peer("spoke a", aKey, "10.0.0.2/32") + peer("spoke b", bKey, "10.0.0.2/32")), net: public,
			want: []string{"config.duplicate-allowedips"}, says: `"spoke b"`},
		{name: "address outside AllowedIPs", target: spoke(aKey, "10.0.0.2/24", hubKey.PublicKey().String(), "10.0.1.0/24", "PersistentKeepalive = 25\n"), net: natted,
			want: []string{"config.address"}, says: "outside every peer's AllowedIPs"},
		{name: "spoke AllowedIPs exclude the hub", target: spoke(aKey, "10.0.0.2/32", hubKey.PublicKey().String(), "10.0.0.8/29", "PersistentKeepalive = 25\n"), other: goodHub, net: natted,
			want: []string{"config.allowedips"}, says: "the hub's (hub.conf) address 10.0.0.1"},
		{name: "hub AllowedIPs miss the spoke", target: goodHub, other: spoke(bKey, "10.0.0.9/24", hubKey.PublicKey().String(), "10.0.0.0/24", "PersistentKeepalive = 25\n"), net: public,
			want: []string{"config.allowedips"}, says: "10.0.0.9"},
		{name: "wrong hub key on the spoke", target: spoke(aKey, "10.0.0.2/24", bKey.PublicKey().String(), "10.0.0.0/24", "PersistentKeepalive = 25\n"), other: goodHub, net: natted,
			want: []string{"config.peer-key"}, says: "not hub.conf's public key"},
		{name: "private key pasted as public", target: spoke(aKey, "10.0.0.2/24", hubKey.String(), "10.0.0.0/24", "PersistentKeepalive = 25\n"), other: goodHub, net: natted,
			want: []string{"config.keys", "config.peer-key"}, says: "private key"},
		{name: "no endpoint on either side", target: hub(peer("spoke a", aKey, "10.0.0.2/32")),
			other: fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = 10.0.0.2/24\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.0/24\n", aKey, hubKey.PublicKey()),
			net:   public, want: []string{"config.endpoint"}, says: "neither"},
		{name: "endpoint port is not the ListenPort", target: strings.Replace(spoke(aKey, "10.0.0.2/24", hubKey.PublicKey().String(), "10.0.0.0/24", "PersistentKeepalive = 25\n"), ":51820", ":51821", 1),
			other: goodHub, net: natted, want: []string{"config.endpoint"}, says: "listens on port 51820"},
		{name: "no keepalive behind NAT", target: spoke(aKey, "10.0.0.2/24", hubKey.PublicKey().String(), "10.0.0.0/24", ""), net: natted,
			want: []string{"config.keepalive"}, says: "behind NAT"},
		{name: "no keepalive with a public address", target: spoke(aKey, "10.0.0.2/24", hubKey.PublicKey().String(), "10.0.0.0/24", ""), net: public},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := &Target{Side: side(t, "this.conf", tc.target)}
			if tc.other != "" {
				tg.Others = []*Side{side(t, "hub.conf", tc.other)}
				if strings.Contains(tc.name, "hub AllowedIPs") || strings.Contains(tc.name, "either side") {
					tg.Others[0] = side(t, "spoke.conf", tc.other)
				}
			}
			env := newEnvironment(context.Background(), Options{})
			env.net = tc.net
			got := notOK(checkConfig(tg, env))
			if len(got) != len(tc.want) {
				t.Fatalf("not OK: %v, want exactly %v", got, tc.want)
			}
			for _, id := range tc.want {
				if _, ok := got[id]; !ok {
					t.Fatalf("not OK: %v, want %v", got, tc.want)
				}
			}
			if tc.says != "" {
				all := fmt.Sprint(got)
				if !strings.Contains(all, tc.says) {
					t.Errorf("findings %q do not say %q", all, tc.says)
				}
			}
		})
	}
}

// The parser refuses a file with the interface's own key as a peer's, so
// only a running device (changed with `wg set`) can have it.
func TestOwnKeyOnRunningDevice(t *testing.T) {
	k := key(t)
	st := &uapi.Status{Name: "wg0", PrivateKey: k.Secret(), Peers: []uapi.PeerStatus{{Peer: config.Peer{PublicKey: k.PublicKey()}}}}
	got := notOK(checkOwnKey(SideFromStatus(st)))
	if len(got) != 1 || !strings.Contains(got["config.own-key"], "own public key") {
		t.Fatalf("not OK: %v", got)
	}
}

func TestPeerLabels(t *testing.T) {
	labels := scanPeerLabels(strings.NewReader("[Interface]\nPrivateKey = x\n\n# the phone\n[Peer]\nPublicKey = y\n\n[Peer]\n# the laptop\nPublicKey = z\n\n[peer]\nPublicKey = w\n"))
	want := []peerLabel{{5, "the phone"}, {8, "the laptop"}, {12, ""}}
	if fmt.Sprint(labels) != fmt.Sprint(want) {
		t.Fatalf("labels %v, want %v", labels, want)
	}
}

func TestFirewallParsers(t *testing.T) {
	nft := `table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
		udp dport 51820 drop
		udp dport { 53, 51820 } counter packets 0 bytes 0 reject
		udp dport != 51820 drop
		tcp dport 22 drop
		udp dport 51000-52000 drop
	}
}`
	got := nftDrops(nft, 51820)
	if len(got) != 3 || !strings.Contains(got[0], "table inet filter chain input: udp dport 51820 drop") {
		t.Errorf("nftDrops = %q", got)
	}
	if got := nftDrops(nft, 51821); len(got) != 1 {
		t.Errorf("nftDrops(51821) = %q, want only the range", got)
	}
	ipt := "*filter\n-A INPUT -p udp -m udp --dport 51820 -j DROP\n-A INPUT -p udp -m multiport --dports 1000,51820 -j REJECT --reject-with icmp-port-unreachable\n-A INPUT -p udp -m udp ! --dport 51820 -j DROP\n-A INPUT -p udp -m udp --dport 51820 -j ACCEPT\n"
	if got := iptablesDrops(ipt, 51820); len(got) != 2 {
		t.Errorf("iptablesDrops = %q", got)
	}
}

func TestRootlessChecks(t *testing.T) {
	s := side(t, "r.conf", fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.5/24

[Peer]
PublicKey = %s
AllowedIPs = 10.0.0.0/24

[Socks5]
BindAddress = 0.0.0.0:1080

[http]
BindAddress = 127.0.0.1:3128
`, key(t), key(t).PublicKey()))
	got := notOK(append(checkServiceBinds(s.Config), checkProxyDNS(s.Config)...))
	if !strings.Contains(got["rootless.bind"], "open proxy") || !strings.Contains(got["rootless.dns"], "outside the tunnel") || len(got) != 2 {
		t.Errorf("rootless findings: %v", got)
	}
}
