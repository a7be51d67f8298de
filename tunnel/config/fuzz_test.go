package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParseConfig checks that no input makes the parser panic, that whatever
// parses survives MarshalText and ParseConfig unchanged, and that the
// stripped form of a valid file is itself valid.
func FuzzParseConfig(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.conf"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		base,
		base + "[Peer]\nPublicKey = " + peerPub1 + "\nEndpoint = [fe80::1%lo]:5\nAllowedIPs = 10.0.0.0/8, ::/0\n",
		base + "DNS = 1.1.1.1 example.com\nAddress = 10.0.0.1/24,fd00::1\nPostUp = echo # %i\n",
		base + "[socks5]\nBindAddress = :1080\n[UDPProxyTunnel]\nBindAddress = :53\nTarget = 1.1.1.1:53\nInactivityTimeout = 5\n",
		"[ Interface ]\r\nPrivate Key = " + testPriv + "\r\nTable = Off\r\nFwMark = 0x1\r\n",
		"[Interface]\n[Peer]\n",
		"x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseConfig("fuzz.conf", bytes.NewReader(in))
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			return
		}
		text, err := c.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText of a parsed config: %v", err)
		}
		back, err := ParseConfig("marshalled.conf", bytes.NewReader(text))
		if err != nil {
			t.Fatalf("ParseConfig(MarshalText()): %v\ninput:\n%q\nmarshalled:\n%s", err, in, text)
		}
		if got, want := withoutLines(back), withoutLines(c); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip changed the config\n got %+v\nwant %+v\nmarshalled:\n%s", got, want, text)
		}
		stripped, err := StripConfig("fuzz.conf", bytes.NewReader(in))
		if err != nil {
			t.Fatalf("StripConfig of a valid config: %v", err)
		}
		if _, err := ParseConfig("stripped.conf", bytes.NewReader(stripped)); err != nil {
			t.Fatalf("stripped config does not parse: %v\n%s", err, stripped)
		}
	})
}
