package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// withoutLines returns a copy of c with the line numbers of its service
// sections cleared: they say where things were written, not what they are.
func withoutLines(c *Config) *Config {
	out := *c
	out.src = nil
	out.Services = nil
	for _, s := range c.Services {
		s.Line = 0
		opts := make([]Option, len(s.Options))
		for i, o := range s.Options {
			o.Line = 0
			opts[i] = o
		}
		if s.Options == nil {
			opts = nil
		}
		s.Options = opts
		out.Services = append(out.Services, s)
	}
	return &out
}

// roundTrip checks that c marshals to text that parses back to c.
func roundTrip(t testing.TB, c *Config) []byte {
	t.Helper()
	text, err := c.MarshalText()
	if err != nil {
		t.Fatalf("MarshalText: %v", err)
	}
	back, err := ParseConfig("marshalled.conf", bytes.NewReader(text))
	if err != nil {
		t.Fatalf("ParseConfig(MarshalText()): %v\n%s", err, text)
	}
	back.Name = c.Name
	if got, want := withoutLines(back), withoutLines(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip changed the config\n got %+v\nwant %+v\ntext:\n%s", got, want, text)
	}
	return text
}

func TestMarshalTextRoundTripFull(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "full.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig("full.conf", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c)
}

func TestMarshalTextExact(t *testing.T) {
	c, err := parseString(t, `[Interface]
privatekey = `+testPriv+`
FwMark = 51820
Address = 10.0.0.1/24
DNS = example.com, 1.1.1.1
PostUp = echo %i # kept
Table = off
[Peer]
PublicKey = `+peerPub1+`
Endpoint = ::1:51820
AllowedIPs = 10.0.0.2
[Peer]
PublicKey = `+peerPub2+`
PersistentKeepalive = 25
[socks5]
bindaddress = 127.0.0.1:1080
`)
	if err != nil {
		t.Fatal(err)
	}
	want := `[Interface]
PrivateKey = ` + testPriv + `
FwMark = 0xca6c
Address = 10.0.0.1/24
DNS = 1.1.1.1, example.com
Table = off
PostUp = echo %i # kept

[Peer]
PublicKey = ` + peerPub1 + `
AllowedIPs = 10.0.0.2/32
Endpoint = [::1]:51820

[Peer]
PublicKey = ` + peerPub2 + `
PersistentKeepalive = 25

[socks5]
bindaddress = 127.0.0.1:1080
`
	if got := string(roundTrip(t, c)); got != want {
		t.Errorf("MarshalText:\n%s\nwant:\n%s", got, want)
	}
}

func TestMarshalTextRoundTripCases(t *testing.T) {
	for name, text := range map[string]string{
		"minimal":         base,
		"zone endpoint":   base + "[Peer]\nPublicKey = " + peerPub1 + "\nEndpoint = fe80::1%eth0:5\n",
		"mapped endpoint": base + "[Peer]\nPublicKey = " + peerPub1 + "\nEndpoint = [::ffff:1.2.3.4]:5\n",
		"host bits":       base + "Address = 10.1.2.3/8\n[Peer]\nPublicKey = " + peerPub1 + "\nAllowedIPs = 192.168.1.1/16, ::1/64\n",
		"dns zone":        base + "DNS = fe80::53%eth0, lan.\n",
		"hooks":           base + "PreUp = a=b; echo '#' \"%i\"\nPreUp = second\nPostDown = x\n",
		"services":        base + "[TCPServerTunnel]\nListenPort = 80\nTarget = a:1\n[UDPProxyTunnel]\nTarget = [::1]:53\nBindAddress = :53\n",
		"password with =": base + "[http]\nBindAddress = :8080\nPassword = a=b=c\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := parseString(t, text)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, c)
		})
	}
}

func TestMarshalTextRejectsMultilineValues(t *testing.T) {
	c := &Config{Interface: Interface{PrivateKey: mustKey(t, testPriv).Secret(), PostUp: []string{"a\nb"}}}
	if _, err := c.MarshalText(); err == nil || !strings.Contains(err.Error(), "PostUp") {
		t.Errorf("MarshalText = %v, want an error about PostUp", err)
	}
	c = &Config{Interface: Interface{PrivateKey: mustKey(t, testPriv).Secret()}, Services: []Section{{Name: "http", Options: []Option{{Key: "Password", Value: "a#b"}}}}}
	if _, err := c.MarshalText(); err == nil {
		t.Error("MarshalText wrote a value with '#'")
	}
}
