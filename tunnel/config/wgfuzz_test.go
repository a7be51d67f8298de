package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// checkUAPISet returns an error unless body is a well-formed UAPI set body
// as SetArgs and the WGConfig methods promise it: KEY=VALUE lines, each
// ending in a newline, with keys wireguard-go knows, device keys before the
// first public_key, and values it parses (no blank line, which would end
// the operation early).
func checkUAPISet(body string) error {
	if body == "" {
		return nil
	}
	if !strings.HasSuffix(body, "\n") {
		return errors.New("body does not end with a newline")
	}
	inPeer := false
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("line %d %q: not KEY=VALUE", i+1, line)
		}
		var err error
		switch key {
		case "public_key":
			inPeer = true
			err = checkHexKey(value)
		case "private_key", "listen_port", "fwmark", "replace_peers":
			if inPeer {
				return fmt.Errorf("line %d %q: device key after a public_key", i+1, line)
			}
			switch key {
			case "private_key":
				err = checkHexKey(value)
			case "listen_port":
				_, err = strconv.ParseUint(value, 10, 16)
			case "fwmark":
				_, err = strconv.ParseUint(value, 10, 32)
			default:
				err = checkTrue(value)
			}
		case "preshared_key", "endpoint", "persistent_keepalive_interval", "replace_allowed_ips", "allowed_ip",
			"remove", "update_only":
			if !inPeer {
				return fmt.Errorf("line %d %q: peer key before any public_key", i+1, line)
			}
			switch key {
			case "preshared_key":
				err = checkHexKey(value)
			case "endpoint":
				_, err = netip.ParseAddrPort(value)
			case "persistent_keepalive_interval":
				_, err = strconv.ParseUint(value, 10, 16)
			case "allowed_ip":
				_, err = netip.ParsePrefix(strings.TrimPrefix(value, "-"))
			default:
				err = checkTrue(value)
			}
		default:
			return fmt.Errorf("line %d %q: unknown key", i+1, line)
		}
		if err != nil {
			return fmt.Errorf("line %d %q: %w", i+1, line, err)
		}
	}
	return nil
}

// checkHexKey accepts what UAPI carries keys as: 64 lowercase hex digits.
func checkHexKey(v string) error {
	if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
		return errors.New("not a 64-digit lowercase hex key")
	}
	return nil
}

func checkTrue(v string) error {
	if v != "true" {
		return errors.New(`the only value is "true"`)
	}
	return nil
}

// fuzzResolver answers one name, for endpoints that are not IP literals.
func fuzzResolver() *fakeResolver {
	return &fakeResolver{answers: map[string][]netip.Addr{
		"host.example": {netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("2001:db8::9")},
	}}
}

// hasNameEndpoint reports whether some peer's endpoint is a host name (whose
// lookup may fail).
func hasNameEndpoint(c *Config) bool {
	for _, p := range c.Peers {
		if _, err := netip.ParseAddr(p.Endpoint.Host); !p.Endpoint.IsZero() && err != nil {
			return true
		}
	}
	return false
}

// FuzzParseWGConfig checks that no wg(8) config makes ParseWGConfig panic,
// that its errors are *ParseError, and that what it accepts holds only wg's
// fields and renders, for setconf, addconf and syncconf, as well-formed UAPI.
func FuzzParseWGConfig(f *testing.F) {
	for _, s := range []string{
		"",
		"[Peer]\nPublicKey = " + peerPub1 + "\nAllowedIPs = 10.0.0.2\n",
		"[ interface ]\nListen Port = 5\n",
		base + "Address = 10.0.0.1/24\n",
		base + "[Socks5]\nBindAddress = :1080\n",
		"[Peer]\nAllowedIPs = 10.0.0.2\n",
		base + "Foo = bar\n",
		"[Interface]\nListenPort = 51820\nFwMark = 0x10\n[Peer]\nPublicKey = " + peerPub1 + "\nAllowedIPs = 10.0.0.2\n" +
			"[Peer]\nPublicKey = " + peerPub2 + "\nPresharedKey = " + testPSK + "\nPersistentKeepalive = 25\nEndpoint = 192.0.2.1:7\n",
		base + "[Peer]\nPublicKey = " + peerPub1 + "\nEndpoint = host.example:51820\nAllowedIPs = 0.0.0.0/0, ::/0\n",
		base + "[Peer]\nPublicKey = " + peerPub1 + "\nEndpoint = [fe80::1%lo]:5 # comment\nAllowedIPs = fd00::/8,\n",
		"[Interface]\r\nPrivate Key = " + testPriv + "\r\n[Peer]\r\nPublicKey=" + peerPub1 + "\r\n",
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "full.stripped")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		w, err := ParseWGConfig("fuzz.conf", bytes.NewReader(in))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			return
		}
		ifc := w.Interface
		if len(ifc.Addresses)+len(ifc.DNS)+len(ifc.DNSSearch)+len(ifc.PreUp)+len(ifc.PostUp)+len(ifc.PreDown)+
			len(ifc.PostDown)+len(w.Services) != 0 || ifc.MTU != 0 || ifc.Table != "" || ifc.SaveConfig {
			t.Fatalf("a wg(8) config took wg-quick or wgu fields: %+v, services %v", ifc, w.Services)
		}
		for i, p := range w.Peers {
			if p.PublicKey.IsZero() {
				t.Fatalf("peer %d has no public key", i)
			}
		}
		// syncconf against a device that has every peer with a PSK and a
		// keepalive, and one peer the file lacks.
		live := []Peer{{PublicKey: mustKey(t, testPub)}}
		for _, p := range w.Peers {
			live = append(live, Peer{PublicKey: p.PublicKey, PresharedKey: mustKey(t, testPSK).Secret(), PersistentKeepalive: 9})
		}
		ctx := context.Background()
		for _, op := range []struct {
			name   string
			render func() (string, error)
		}{
			{"setconf", func() (string, error) { return w.SetconfUAPI(ctx, fuzzResolver()) }},
			{"addconf", func() (string, error) { return w.AddconfUAPI(ctx, fuzzResolver()) }},
			{"syncconf", func() (string, error) { return w.SyncconfUAPI(ctx, fuzzResolver(), live) }},
		} {
			body, err := op.render()
			if err != nil {
				if !hasNameEndpoint(&w.Config) {
					t.Fatalf("%s: %v, and there is no name to resolve", op.name, err)
				}
				continue
			}
			if err := checkUAPISet(body); err != nil {
				t.Fatalf("%s: %v\nbody:\n%s", op.name, err, body)
			}
		}
	})
}

// FuzzSetArgs checks that no argument list makes SetArgs (`wg set`) panic
// and that whatever it accepts is a well-formed UAPI set body. The fuzz
// string is the argument list joined by NUL bytes, which no real argument
// can contain. The argument after private-key or preshared-key becomes the
// content of a key file, whose path SetArgs gets instead: the fuzzer reaches
// ReadKeyFile without SetArgs opening arbitrary paths.
func FuzzSetArgs(f *testing.F) {
	args := func(a ...string) string { return strings.Join(a, "\x00") }
	for _, s := range []string{
		"",
		args("listen-port", "1234", "fwmark", "0x20", "private-key", testPriv+"\n"),
		args("peer", peerPub1, "endpoint", "127.0.0.1:99", "persistent-keepalive", "25", "allowed-ips", "10.0.0.1,10.1.0.0/16", "peer", peerPub2, "remove"),
		args("peer", peerPub1, "allowed-ips", "+10.0.0.1,-10.2.0.0/16"),
		args("peer", peerPub1, "allowed-ips", "", "preshared-key", "", "persistent-keepalive", "off"),
		args("peer", peerPub1, "preshared-key", testPSK, "endpoint", "host.example:51820"),
		args("peer", peerPub1, "endpoint", "[fe80::1%lo]:5", "allowed-ips", " fd00::/8 , ::/0"),
		args("peer", peerPub1),
		args("peer", peerPub1, "listen-port", "1"),
		args("fwmark"),
		args("fwmark", "off", "listen-port", "0"),
		args("bogus", "1"),
		args("peer", "abc"),
		args("private-key", testPriv+"x"),
		args("private-key", "abc"),
		args("peer", peerPub1, "allowed-ips", "10.0.0.1/33"),
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in string) {
		var argv []string
		if in != "" {
			argv = strings.Split(in, "\x00")
		}
		for i := 1; i < len(argv); i++ {
			if argv[i-1] == "private-key" || argv[i-1] == "preshared-key" {
				path := filepath.Join(dir, "key"+strconv.Itoa(i))
				if err := os.WriteFile(path, []byte(argv[i]), 0o600); err != nil {
					t.Fatal(err)
				}
				argv[i] = path
			}
		}
		body, err := SetArgs(context.Background(), fuzzResolver(), argv)
		if err != nil {
			return
		}
		if err := checkUAPISet(body); err != nil {
			t.Fatalf("SetArgs(%q): %v\nbody:\n%s", argv, err, body)
		}
	})
}

// TestCheckUAPISet keeps the fuzz targets' oracle honest: it must reject
// what wireguard-go would reject or misread.
func TestCheckUAPISet(t *testing.T) {
	k := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{"", true},
		{"listen_port=1\nfwmark=0\nprivate_key=" + k + "\nreplace_peers=true\npublic_key=" + k +
			"\nremove=true\nupdate_only=true\npreshared_key=" + k + "\nendpoint=[fe80::1%lo]:5\npersistent_keepalive_interval=0\n" +
			"replace_allowed_ips=true\nallowed_ip=10.0.0.0/8\nallowed_ip=-::/0\n", true},
		{"listen_port=1", false},                           // no final newline
		{"listen_port=1\n\n", false},                       // a blank line ends the operation
		{"listen_port=70000\n", false},                     // out of range
		{"public_key=" + k + "\nlisten_port=1\n", false},   // device key in a peer
		{"endpoint=1.2.3.4:5\n", false},                    // peer key before a peer
		{"public_key=" + strings.ToUpper(k) + "\n", false}, // not lowercase hex
		{"public_key=" + k + "\nallowed_ip=10.0.0.1\n", false},
		{"public_key=" + k + "\nendpoint=host.example:5\n", false},
		{"public_key=" + k + "\nremove=false\n", false},
		{"bogus=1\n", false},
		{"listen_port\n", false},
	} {
		if err := checkUAPISet(tc.body); (err == nil) != tc.ok {
			t.Errorf("checkUAPISet(%q) = %v, want ok=%v", tc.body, err, tc.ok)
		}
	}
}
