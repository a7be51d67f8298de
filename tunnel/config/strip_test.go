package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/full.stripped is what wireguard-tools' `wg-quick strip` printed
// for full.conf without its service sections.
func TestStripConfigMatchesWgQuick(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "full.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "full.stripped"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := StripConfig("full.conf", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("StripConfig:\n%s\nwant:\n%s", got, want)
	}
}

func TestStripConfig(t *testing.T) {
	in := "# top\n\n[Interface]\nAddress = 10.0.0.1/24\nPrivateKey = " + testPriv + "\n  # kept comment\nPostUp = echo # gone\nmtu=1400\nListenPort = 1\n" +
		"[Socks5]\n# dropped with its section\nBindAddress = :1080\n\n" +
		"[Peer]\nPublicKey = " + peerPub1 + "\nAllowedIPs = 10.0.0.2 # c\n[http]\nBindAddress = :8080"
	want := "# top\n\n[Interface]\nPrivateKey = " + testPriv + "\n  # kept comment\nListenPort = 1\n" +
		"[Peer]\nPublicKey = " + peerPub1 + "\nAllowedIPs = 10.0.0.2 # c\n\n"
	got, err := StripConfig("wg0.conf", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("StripConfig:\n%q\nwant:\n%q", got, want)
	}
	// The stripped text is itself a valid config with the same wg keys.
	c, err := ParseConfig("stripped", bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if c.Interface.ListenPort != 1 || len(c.Peers) != 1 || len(c.Interface.Addresses) != 0 || len(c.Services) != 0 {
		t.Errorf("stripped config %+v", c)
	}
}

func TestStripConfigValidates(t *testing.T) {
	_, err := StripConfig("wg0.conf", strings.NewReader(base+"Bogus = 1\n"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 3 || pe.Key != "Bogus" {
		t.Errorf("StripConfig = %v, want a ParseError at line 3", err)
	}
}
