package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keyFileConfig is a config whose key comes from path.
func keyFileConfig(path string) string {
	return "[Interface]\nPrivateKeyFile = " + path + "\nAddress = 10.0.0.2/24\n\n" +
		"[Peer]\nPublicKey = " + testPeerKey(1).PublicKey().String() + "\nAllowedIPs = 10.0.0.0/24\n"
}

func testPeerKey(b byte) Key {
	var k Key
	for i := range k {
		k[i] = b
	}
	return k.Clamp()
}

func TestPrivateKeyFile(t *testing.T) {
	dir := t.TempDir()
	want := testPeerKey(7)
	keyPath := filepath.Join(dir, "wg-key")
	// As `wg genkey > FILE` writes it: a trailing newline.
	if err := os.WriteFile(keyPath, []byte(want.String()+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	// A Kubernetes secret is a symlink into ..data.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(keyPath, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{keyPath, link} {
		text := keyFileConfig(path)
		cfg, err := ParseConfig("wg0.conf", strings.NewReader(text))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if cfg.Interface.PrivateKey.Reveal() != want || cfg.Interface.PrivateKeyFile != path {
			t.Errorf("%s: key %v from %q, want the file's key from %q", path, cfg.Interface.PrivateKey.Reveal() == want, cfg.Interface.PrivateKeyFile, path)
		}
		// Marshalling keeps the reference, never the key.
		out, err := cfg.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), want.String()) || !strings.Contains(string(out), "PrivateKeyFile = "+path+"\n") {
			t.Errorf("MarshalText:\n%s", out)
		}
		// strip: wg(8) has no PrivateKeyFile, and the key is not printed:
		// `wg syncconf` then leaves the running key as it is.
		stripped, err := StripConfig("wg0.conf", strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(stripped), "PrivateKey") || strings.Contains(string(stripped), want.String()) {
			t.Errorf("strip kept the key file or the key:\n%s", stripped)
		}
		if _, err := ParseWGConfig("stripped", strings.NewReader(string(stripped))); err != nil {
			t.Errorf("stripped output is not wg's format: %v\n%s", err, stripped)
		}
	}
}

func TestPrivateKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "c2VjcmV0IHRoYXQgaXMgbm90IGEga2V5IGF0IGFsbCE="
	inline := "[Interface]\nPrivateKey = " + testPeerKey(3).String() + "\n"
	good := write("good", testPeerKey(3).String()+"\n", 0o400)
	tests := []struct {
		name, text, want string
	}{
		{"missing", keyFileConfig(filepath.Join(dir, "absent")), "wg0.conf:2: PrivateKeyFile: " + filepath.Join(dir, "absent") + " does not exist"},
		{"relative", keyFileConfig("wg-key"), "wg0.conf:2: PrivateKeyFile: \"wg-key\" is not an absolute path"},
		{"directory", keyFileConfig(dir), "is not a regular file"},
		{"not a key", keyFileConfig(write("bad", secret[:40]+"\n", 0o400)), "does not hold a valid key"},
		{"too long", keyFileConfig(write("long", strings.Repeat("A", 2000), 0o400)), "is longer than 1024 bytes"},
		{"empty", keyFileConfig(write("empty", "", 0o400)), "does not hold a valid key"},
		{"zero", keyFileConfig(write("zero", Key{}.String(), 0o400)), "all-zero key"},
		{"both, inline first", inline + "PrivateKeyFile = " + good + "\n", "wg0.conf:3: PrivateKeyFile: PrivateKey is already set"},
		{"both, file first", "[Interface]\nPrivateKeyFile = " + good + "\nPrivateKey = " + testPeerKey(3).String() + "\n", "wg0.conf:3: PrivateKey: PrivateKeyFile is already set"},
		{"in a peer", inline + "[Peer]\nPrivateKeyFile = " + good + "\n", "belongs in the [Interface] section"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("wg0.conf", strings.NewReader(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("%v is not ErrInvalidConfig", err)
			}
			if strings.Contains(err.Error(), secret[:40]) {
				t.Errorf("the error echoes the file's content: %v", err)
			}
		})
	}
}
