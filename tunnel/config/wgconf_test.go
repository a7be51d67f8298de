package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseWGConfig(t *testing.T) {
	for _, tc := range []struct {
		name, text, err string
	}{
		{"peers only", "[Peer]\nPublicKey = " + peerPub1 + "\nAllowedIPs = 10.0.0.2\n", ""},
		{"empty", "", ""},
		{"whitespace and case", "[ interface ]\nListen Port = 5\n", ""},
		{"wg-quick key", base + "Address = 10.0.0.1/24\n", "Line unrecognized: `Address=10.0.0.1/24'"},
		{"service section", base + "[Socks5]\nBindAddress = :1080\n", "Line unrecognized: `[Socks5]'"},
		{"peer without key", "[Peer]\nAllowedIPs = 10.0.0.2\n", "A peer is missing a public key"},
		{"unknown key", base + "Foo = bar\n", "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWGConfig("x.conf", strings.NewReader(tc.text))
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestConfUAPIBodies(t *testing.T) {
	text := "[Interface]\nListenPort = 51820\n[Peer]\nPublicKey = " + peerPub1 + "\nAllowedIPs = 10.0.0.2\n" +
		"[Peer]\nPublicKey = " + peerPub2 + "\nPresharedKey = " + testPSK + "\nPersistentKeepalive = 25\nEndpoint = 192.0.2.1:7\n"
	w, err := ParseWGConfig("", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	ctx, r := context.Background(), &fakeResolver{}
	p1, p2, psk := mustKey(t, peerPub1).Hex(), mustKey(t, peerPub2).Hex(), mustKey(t, testPSK).Hex()
	peers := "public_key=" + p1 + "\nreplace_allowed_ips=true\nallowed_ip=10.0.0.2/32\n" +
		"public_key=" + p2 + "\npreshared_key=" + psk + "\nendpoint=192.0.2.1:7\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\n"
	zero := Key{}.Hex()

	got, err := w.SetconfUAPI(ctx, r)
	if want := "private_key=" + zero + "\nlisten_port=51820\nfwmark=0\nreplace_peers=true\n" + peers; err != nil || got != want {
		t.Errorf("setconf:\n%s\nwant:\n%s (%v)", got, want, err)
	}
	got, err = w.AddconfUAPI(ctx, r)
	if want := "listen_port=51820\n" + peers; err != nil || got != want {
		t.Errorf("addconf:\n%s\nwant:\n%s (%v)", got, want, err)
	}
	// syncconf: a live peer not in the file goes; peer 1's live PSK and
	// keepalive, absent from the file, are reset.
	gone := mustKey(t, testPriv).PublicKey()
	live := []Peer{
		{PublicKey: mustKey(t, peerPub1), PresharedKey: mustKey(t, testPSK).Secret(), PersistentKeepalive: 5},
		{PublicKey: gone},
	}
	got, err = w.SyncconfUAPI(ctx, r, live)
	want := "private_key=" + zero + "\nlisten_port=51820\nfwmark=0\n" +
		"public_key=" + gone.Hex() + "\nremove=true\n" +
		"public_key=" + p1 + "\npreshared_key=" + zero + "\npersistent_keepalive_interval=0\nreplace_allowed_ips=true\nallowed_ip=10.0.0.2/32\n" +
		"public_key=" + p2 + "\npreshared_key=" + psk + "\nendpoint=192.0.2.1:7\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\n"
	if err != nil || got != want {
		t.Errorf("syncconf:\n%s\nwant:\n%s (%v)", got, want, err)
	}
}

func TestSetArgsUAPI(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(testPriv+"\n"), 0o600)
	trailing := filepath.Join(dir, "trailing")
	os.WriteFile(trailing, []byte(testPriv+"x"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	p1, p2 := mustKey(t, peerPub1).Hex(), mustKey(t, peerPub2).Hex()
	ctx, r := context.Background(), &fakeResolver{}
	for _, tc := range []struct {
		name string
		args []string
		want string
		err  string
	}{
		{"device", []string{"listen-port", "1234", "fwmark", "0x20", "private-key", keyFile},
			"listen_port=1234\nfwmark=32\nprivate_key=" + mustKey(t, testPriv).Hex() + "\n", ""},
		{"peer", []string{"peer", peerPub1, "endpoint", "127.0.0.1:99", "persistent-keepalive", "25", "allowed-ips", "10.0.0.1,10.1.0.0/16", "peer", peerPub2, "remove"},
			"public_key=" + p1 + "\nendpoint=127.0.0.1:99\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.1/32\nallowed_ip=10.1.0.0/16\n" +
				"public_key=" + p2 + "\nremove=true\n", ""},
		{"plus minus", []string{"peer", peerPub1, "allowed-ips", "+10.0.0.1,-10.2.0.0/16"},
			"public_key=" + p1 + "\nallowed_ip=10.0.0.1/32\nallowed_ip=-10.2.0.0/16\n", ""},
		{"clear", []string{"peer", peerPub1, "allowed-ips", "", "preshared-key", "/dev/null", "persistent-keepalive", "off"},
			"public_key=" + p1 + "\npreshared_key=" + Key{}.Hex() + "\npersistent_keepalive_interval=0\nreplace_allowed_ips=true\n", ""},
		{"bare peer", []string{"peer", peerPub1}, "public_key=" + p1 + "\n", ""},
		{"device after peer", []string{"peer", peerPub1, "listen-port", "1"}, "", "invalid argument: listen-port"},
		{"missing value", []string{"fwmark"}, "", "invalid argument: fwmark"},
		{"unknown", []string{"bogus", "1"}, "", "invalid argument: bogus"},
		{"bad key", []string{"peer", "abc"}, "", "Key is not the correct length or format: `abc'"},
		{"trailing", []string{"private-key", trailing}, "", "Found trailing character in key file: `x'"},
		{"short", []string{"private-key", short}, "", "Invalid length key in key file"},
		{"bad prefix", []string{"peer", peerPub1, "allowed-ips", "10.0.0.1/33"}, "", "not a valid IP prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetArgs(ctx, r, tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if strings.HasPrefix(tc.err, "invalid argument") && !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("%v is not ErrInvalidArgument", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s (%v)", got, tc.want, err)
			}
		})
	}
}
