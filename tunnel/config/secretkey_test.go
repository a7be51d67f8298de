package config

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// secretForms are the ways a key could show up in text: wg's base64, the UAPI's hex, and fmt's byte list.
func secretForms(k SecretKey) []string {
	raw := k.Reveal()
	return []string{raw.String(), raw.Hex(), strings.Trim(fmt.Sprint([KeyLen]byte(raw)), "[]")}
}

// checkNoSecret fails t if any form of any of the keys appears in what.
func checkNoSecret(t *testing.T, label, what string, keys ...SecretKey) {
	t.Helper()
	for _, k := range keys {
		for _, form := range secretForms(k) {
			if strings.Contains(what, form) {
				t.Errorf("%s shows a secret key (%.8s...):\n%s", label, form, what)
				return
			}
		}
	}
}

func TestSecretKeysNeverPrinted(t *testing.T) {
	priv, _ := GeneratePrivateKey()
	psk, _ := GeneratePresharedKey()
	peerPriv, _ := GeneratePrivateKey()
	cfg := &Config{Name: "wg0",
		Interface: Interface{PrivateKey: priv, Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		Peers: []Peer{{PublicKey: peerPriv.PublicKey(), PresharedKey: psk,
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}}}}

	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for name, v := range map[string]any{"*Config": cfg, "Config": *cfg, "Interface": cfg.Interface,
			"Peers": cfg.Peers, "PrivateKey": priv, "PresharedKey": psk} {
			checkNoSecret(t, fmt.Sprintf("fmt %s of %s", verb, name), fmt.Sprintf(verb, v), priv, psk)
		}
	}
	for name, v := range map[string]any{"*Config": cfg, "Config": *cfg, "key": priv} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json of %s: %v", name, err)
		}
		checkNoSecret(t, "JSON of "+name, string(b), priv, psk)
	}
	var logged bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logged, nil), slog.NewJSONHandler(&logged, nil)} {
		slog.New(h).Info("up", "config", cfg, "config_value", *cfg,
			"private_key", priv, "psk", psk, "interface", cfg.Interface)
	}
	checkNoSecret(t, "slog", logged.String(), priv, psk)
	if !strings.Contains(logged.String(), "(redacted)") {
		t.Errorf("slog shows no (redacted) placeholder:\n%s", logged.String())
	}

	// The writers that must write the keys still do.
	text, err := cfg.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	uapi, err := cfg.UAPISet(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PrivateKey = " + priv.Reveal().String(), "PresharedKey = " + psk.Reveal().String()} {
		if !strings.Contains(string(text), want) {
			t.Errorf("MarshalText lacks %.24s...:\n%s", want, text)
		}
	}
	for _, want := range []string{"private_key=" + priv.Reveal().Hex(), "preshared_key=" + psk.Reveal().Hex()} {
		if !strings.Contains(uapi, want) {
			t.Errorf("the UAPI set text lacks %.24s...", want)
		}
	}
}

// Config mistakes that put a key where the parser quotes the line: the error says where, never the key.
func TestParseErrorsHideKeys(t *testing.T) {
	priv, _ := GeneratePrivateKey()
	psk, _ := GeneratePresharedKey()
	p64, s64 := priv.Reveal().String(), psk.Reveal().String()
	typo := p64[:10] + "!" + p64[11:]    // one character mistyped
	short := p64[:43]                    // the '=' lost
	swapped := s64[:20] + s64[21:] + "A" // a character lost in the middle, one added at the end
	peer := "[Peer]\nPublicKey = " + priv.PublicKey().String() + "\nAllowedIPs = 10.0.0.2/32\n"
	tests := map[string]string{
		"mistyped private key":       "[Interface]\nPrivateKey = " + typo + "\n",
		"private key without =":      "[Interface]\nPrivateKey = " + short + "\n",
		"colon instead of =":         "[Interface]\nPrivateKey: " + p64 + "\n",
		"key alone on a line":        "[Interface]\n" + p64 + "\n",
		"key with no name":           "[Interface]\n= " + p64 + "\n",
		"key in a bracket":           "[Interface]\n[" + p64 + "\n",
		"private key in [Peer]":      "[Interface]\nPrivateKey = " + p64 + "\n" + peer + "PrivateKey = " + p64 + "\n",
		"preshared key in Interface": "[Interface]\nPrivateKey = " + p64 + "\nPresharedKey = " + s64 + "\n",
		"mistyped preshared key":     "[Interface]\nPrivateKey = " + p64 + "\n" + peer + "PresharedKey = " + swapped + "\n",
		"preshared key without =":    "[Interface]\nPrivateKey = " + p64 + "\n" + peer + "PresharedKey = " + s64[:43] + "\n",
		"colon in [Peer]":            "[Interface]\nPrivateKey = " + p64 + "\n" + peer + "PresharedKey: " + s64 + "\n",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig("wg0.conf", strings.NewReader(text))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			checkNoSecret(t, "config error", msg, priv, psk)
			for _, frag := range []string{typo, short, swapped, s64[:43]} {
				if strings.Contains(msg, frag) {
					t.Errorf("config error quotes a mistyped key: %s", msg)
				}
			}
			if !strings.HasPrefix(msg, "wg0.conf:") {
				t.Errorf("config error %q does not say where", msg)
			}
			// wg(8)'s format goes through the same parser and has its own line errors.
			if _, err := ParseWGConfig("wg0.conf", strings.NewReader(text)); err != nil {
				checkNoSecret(t, "wg-format error", err.Error(), priv, psk)
			}
		})
	}
}
