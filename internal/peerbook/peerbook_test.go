package peerbook

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
)

const hubFile = `# the hub, hand written
[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
Address = 10.0.0.1/24   # our subnet
ListenPort = 51820
# Endpoint = hub.example.com:51820

# laptop
[Peer]
# Name = laptop
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
AllowedIPs = 10.0.0.2/32

# a comment above the site peer
[Peer]
PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
AllowedIPs = 10.0.0.4/32, 192.168.7.0/24
`

func writeHub(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wg0.conf")
	if err := os.WriteFile(path, []byte(text), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPeerBookAddKeepsLayoutAndPicksFreeAddress(t *testing.T) {
	path := writeHub(t, hubFile)
	applied := 0
	b := &PeerBook{Path: path, Apply: func(context.Context) error { applied++; return nil }}
	added, err := b.Add(context.Background(), NewPeer{Name: "phone", DNS: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, Keepalive: 25, PresharedKey: true, KeepClientKey: true})
	if err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Errorf("Apply called %d times, want 1", applied)
	}
	if got := config.JoinPrefixes(added.Address); got != "10.0.0.3/32" {
		t.Errorf("address %s, want 10.0.0.3/32 (10.0.0.1 hub, .2 and .4 peers)", got)
	}
	text := readFile(t, path)
	if !strings.HasPrefix(text, hubFile) {
		t.Fatalf("the old text changed:\n%s", text)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", fi.Mode().Perm())
	}
	cfg, err := config.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Peers) != 3 || cfg.Peers[2].PublicKey != added.PublicKey || cfg.Peers[2].PresharedKey.IsZero() {
		t.Fatalf("peers after add: %+v", cfg.Peers)
	}
	client, err := config.ParseConfig("client", strings.NewReader(string(added.ClientConfig)))
	if err != nil {
		t.Fatalf("client config does not parse: %v\n%s", err, added.ClientConfig)
	}
	if client.Interface.PrivateKey.PublicKey() != added.PublicKey || client.Peers[0].Endpoint.String() != "hub.example.com:51820" ||
		client.Peers[0].PresharedKey != cfg.Peers[2].PresharedKey || config.JoinPrefixes(client.Peers[0].AllowedIPs) != "10.0.0.0/24" {
		t.Errorf("client config wrong:\n%s", added.ClientConfig)
	}
	again, err := b.ClientConfig("phone")
	if err != nil || string(again) != string(added.ClientConfig) {
		t.Errorf("ClientConfig = %q, %v; want the text Add made:\n%s", again, err, added.ClientConfig)
	}
	if _, err := b.ClientConfig("laptop"); !errors.Is(err, ErrClientKeyNotKept) {
		t.Errorf("ClientConfig(laptop) = %v, want ErrClientKeyNotKept", err)
	}
	if _, err := b.Add(context.Background(), NewPeer{Name: "phone"}); err == nil {
		t.Error("a second peer named phone was accepted")
	}
	if _, err := b.Add(context.Background(), NewPeer{Name: "x", Address: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}}); err == nil {
		t.Error("a taken address was accepted")
	}
}

func TestPeerBookRemoveDisableEnableRoundTrip(t *testing.T) {
	path := writeHub(t, hubFile)
	b := &PeerBook{Path: path}
	ctx := context.Background()
	if err := b.SetEnabled(ctx, "laptop", false); err != nil {
		t.Fatal(err)
	}
	text := readFile(t, path)
	if !strings.Contains(text, "# laptop\n# disabled: [Peer]\n# disabled: # Name = laptop\n# disabled: PublicKey = xTIB") {
		t.Fatalf("disabled block:\n%s", text)
	}
	cfg, err := config.LoadConfig(path)
	if err != nil || len(cfg.Peers) != 1 {
		t.Fatalf("after disable: %v, %d peers", err, len(cfg.Peers))
	}
	// A disabled peer keeps its address.
	added, err := b.Add(ctx, NewPeer{Name: "n", Endpoint: "192.0.2.1"})
	if err != nil || config.JoinPrefixes(added.Address) != "10.0.0.3/32" {
		t.Fatalf("add while laptop disabled: %v %v", added, err)
	}
	if !strings.Contains(string(added.ClientConfig), "Endpoint = 192.0.2.1:51820\n") {
		t.Errorf("a bare host gets the ListenPort:\n%s", added.ClientConfig)
	}
	if _, err := b.Remove(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetEnabled(ctx, "laptop", true); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != hubFile {
		t.Fatalf("disable, add, remove, enable did not give the file back:\n%s", got)
	}
	if _, err := b.Remove(ctx, "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(hubFile, "\n[Peer]\nPublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\nAllowedIPs = 10.0.0.4/32, 192.168.7.0/24\n", "\n", 1)
	if got := readFile(t, path); got != want {
		t.Fatalf("after removing by key:\n%s\nwant:\n%s", got, want)
	}
	if _, err := b.Remove(ctx, "nobody"); !errors.Is(err, tunnel.ErrNoPeer) {
		t.Errorf("remove nobody: %v", err)
	}
}

func TestPeerBookApplyFailureRestoresFile(t *testing.T) {
	path := writeHub(t, hubFile)
	b := &PeerBook{Path: path, Apply: func(context.Context) error { return errors.New("daemon said no") }}
	pub, _ := config.GeneratePrivateKey()
	err := b.AddPublicKey(context.Background(), "", pub.PublicKey(), []netip.Prefix{netip.MustParsePrefix("10.0.0.9/32")})
	if err == nil || !strings.Contains(err.Error(), "daemon said no") {
		t.Fatalf("err = %v", err)
	}
	if got := readFile(t, path); got != hubFile {
		t.Fatalf("file not restored:\n%s", got)
	}
}

func TestPeerBookRefusesUnwritableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write any file")
	}
	path := writeHub(t, hubFile)
	os.Chmod(path, 0o440)
	b := &PeerBook{Path: path}
	if _, err := b.Add(context.Background(), NewPeer{Name: "p"}); !errors.Is(err, ErrNotWritable) {
		t.Fatalf("err = %v, want ErrNotWritable", err)
	}
}

func TestNextFreeAddresses(t *testing.T) {
	hub := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/30"), netip.MustParsePrefix("fd00::1/64")}
	got, err := nextFreeAddresses(hub, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("fd00::2/128")})
	if err != nil || config.JoinPrefixes(got) != "10.0.0.2/32, fd00::3/128" {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := nextFreeAddresses(hub[:1], []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}); !errors.Is(err, ErrNoFreeAddress) {
		t.Fatalf("full /30: %v", err)
	}
}

// FuzzPeerFile: any file splits into blocks without panicking, and
// disabling then enabling a block, or removing it, leaves every line outside
// the block as it was.
func FuzzPeerFile(f *testing.F) {
	f.Add([]byte(hubFile))
	f.Add([]byte("[Peer]\n# disabled: [Peer]\n#\n[Interface]\n# disabled: x\n"))
	f.Add([]byte("# disabled: [Peer]\n# disabled: PublicKey = a\n[Peer]\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf := parsePeerFile(data)
		orig := string(pf.bytes())
		for i := range pf.blocks {
			b := pf.blocks[i]
			if b.start < 0 || b.end < b.start || b.end >= len(pf.lines) {
				t.Fatalf("block %d out of range: %+v (%d lines)", i, b, len(pf.lines))
			}
			if !b.disabled {
				c := parsePeerFile([]byte(orig))
				c.setDisabled(i, true)
				if len(c.blocks) != len(pf.blocks) {
					t.Fatalf("disabling block %d changed the block count:\n%q\n->\n%q", i, orig, c.bytes())
				}
				c.setDisabled(i, false)
				if got := string(c.bytes()); got != orig {
					t.Fatalf("disable+enable of block %d:\n%q\n->\n%q", i, orig, got)
				}
			}
			c := parsePeerFile([]byte(orig))
			c.removeBlock(i)
			keep := b.start // one blank line before the block goes with it
			if keep > 0 && strings.TrimSpace(pf.lines[keep-1]) == "" {
				keep--
			}
			outside := strings.Join(pf.lines[:keep], "\n")
			if !strings.HasPrefix(string(c.bytes()), strings.TrimSuffix(outside, "\n")) {
				t.Fatalf("removing block %d changed the lines before it", i)
			}
		}
	})
}

func TestPeerBookRefusesSaveConfig(t *testing.T) {
	text := strings.Replace(hubFile, "ListenPort = 51820\n", "ListenPort = 51820\nSaveConfig = true\n", 1)
	path := writeHub(t, text)
	b := &PeerBook{Path: path}
	if _, err := b.Add(context.Background(), NewPeer{Name: "p"}); err == nil || !strings.Contains(err.Error(), "SaveConfig") {
		t.Fatalf("err = %v", err)
	}
	if got := readFile(t, path); got != text {
		t.Fatalf("file changed:\n%s", got)
	}
}
