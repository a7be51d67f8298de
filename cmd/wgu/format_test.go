package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

func mustKey(t *testing.T, s string) config.Key {
	t.Helper()
	k, err := config.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testStatus is WG-COMPAT's example device, plus a peer with no handshake.
func testStatus(t *testing.T, now time.Time) *uapi.Status {
	return &uapi.Status{
		Name:       "wga",
		PrivateKey: mustKey(t, "KDLqBQCWZdQoRF9HiHyNoFqXWy7gAUWjCrhwoZJsyGM=").Secret(),
		ListenPort: 51820,
		FwMark:     0xca6c,
		Peers: []uapi.PeerStatus{
			{Peer: config.Peer{
				PublicKey:  mustKey(t, "WMQf7xDlOoqj1V0evRx7yLlmaMkmHbdKyOdvLSlEqwA="),
				AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.3/32")},
			}},
			{Peer: config.Peer{
				PublicKey:           mustKey(t, "ApoOaCq8uiZNCE8bDkOL6lc94HnC/7T//+ICfYYEZBk="),
				PresharedKey:        mustKey(t, "W04HUxgmEYKlMLOUXZG0Iw68aeL6vEHPZvy+WJoMKzA=").Secret(),
				Endpoint:            config.Endpoint{Host: "10.99.0.2", Port: 51821},
				AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"), netip.MustParsePrefix("192.168.50.0/24")},
				PersistentKeepalive: 25,
			}, LastHandshake: now.Add(-7 * time.Second), RxBytes: 764, TxBytes: 1012},
		},
	}
}

func TestFormatShowPlain(t *testing.T) {
	now := time.Unix(1795571684, 0)
	var b bytes.Buffer
	formatShow(&b, testStatus(t, now), now, false, true)
	want := `interface: wga
  public key: ` + mustKey(t, "KDLqBQCWZdQoRF9HiHyNoFqXWy7gAUWjCrhwoZJsyGM=").PublicKey().String() + `
  private key: (hidden)
  listening port: 51820
  fwmark: 0xca6c

peer: ApoOaCq8uiZNCE8bDkOL6lc94HnC/7T//+ICfYYEZBk=
  preshared key: (hidden)
  endpoint: 10.99.0.2:51821
  allowed ips: 0.0.0.0/0, ::/0, 192.168.50.0/24
  latest handshake: 7 seconds ago
  transfer: 764 B received, 1012 B sent
  persistent keepalive: every 25 seconds

peer: WMQf7xDlOoqj1V0evRx7yLlmaMkmHbdKyOdvLSlEqwA=
  allowed ips: 10.0.0.3/32
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestFormatShowColour(t *testing.T) {
	now := time.Unix(1795571684, 0)
	var b bytes.Buffer
	formatShow(&b, testStatus(t, now), now, true, false)
	for _, want := range []string{
		"\x1b[32m\x1b[1minterface\x1b[0m: \x1b[32mwga\x1b[0m\n",
		"  \x1b[1mprivate key\x1b[0m: KDLqBQCWZdQoRF9HiHyNoFqXWy7gAUWjCrhwoZJsyGM=\n",
		"\x1b[33m\x1b[1mpeer\x1b[0m: \x1b[33mApoOaCq8uiZNCE8bDkOL6lc94HnC/7T//+ICfYYEZBk=\x1b[0m\n",
		"0.0.0.0\x1b[36m/\x1b[0m0",
		"7 \x1b[36mseconds\x1b[0m ago",
		"764 \x1b[36mB\x1b[0m received",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("colour output lacks %q:\n%q", want, b.String())
		}
	}
}

func TestDurationAndBytes(t *testing.T) {
	p := painter{}
	for secs, want := range map[uint64]string{
		1:                        "1 second",
		60:                       "1 minute",
		74:                       "1 minute, 14 seconds",
		3*86400 + 1:              "3 days, 1 second",
		365*86400 + 86400 + 3662: "1 year, 1 day, 1 hour, 1 minute, 2 seconds",
		65535:                    "18 hours, 12 minutes, 15 seconds",
	} {
		if got := p.duration(secs); got != want {
			t.Errorf("duration(%d) = %q, want %q", secs, got, want)
		}
	}
	for n, want := range map[uint64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.00 KiB", 1048575: "1024.00 KiB",
		5 << 20: "5.00 MiB", 3 << 30: "3.00 GiB", 2 << 40: "2.00 TiB",
	} {
		if got := p.bytes(n); got != want {
			t.Errorf("bytes(%d) = %q, want %q", n, got, want)
		}
	}
	now := time.Unix(100, 0)
	if got := p.ago(now, now); got != "Now" {
		t.Errorf("ago(now) = %q", got)
	}
	if got := p.ago(now.Add(time.Hour), now); !strings.Contains(got, "System clock wound backward") {
		t.Errorf("ago(future) = %q", got)
	}
}

func TestFormatFields(t *testing.T) {
	now := time.Unix(1795571684, 0)
	st := testStatus(t, now)
	pub := st.PrivateKey.PublicKey().String()
	cases := map[string]string{
		"public-key":           pub + "\n",
		"private-key":          "KDLqBQCWZdQoRF9HiHyNoFqXWy7gAUWjCrhwoZJsyGM=\n",
		"listen-port":          "51820\n",
		"fwmark":               "0xca6c\n",
		"peers":                "WMQf7xDlOoqj1V0evRx7yLlmaMkmHbdKyOdvLSlEqwA=\nApoOaCq8uiZNCE8bDkOL6lc94HnC/7T//+ICfYYEZBk=\n",
		"endpoints":            "WMQf7xDlOoqj1V0evRx7yLlmaMkmHbdKyOdvLSlEqwA=\t(none)\nApoOaCq8uiZNCE8bDkOL6lc94HnC/7T//+ICfYYEZBk=\t10.99.0.2:51821\n",
		"allowed-ips":          "WMQf7xDlOoqj1V0evRx7yLlmaMkmHbdKyOdvLSlEqwA=\t10.0.0.3/32\nApoOaCq8uiZNCE8bDkOL6lc94HnC/7T//+ICfYYEZBk=\t0.0.0.0/0 ::/0 192.168.50.0/24\n",
		"persistent-keepalive": "WMQf7xDlOoqj1V0evRx7yLlmaMkmHbdKyOdvLSlEqwA=\toff\nApoOaCq8uiZNCE8bDkOL6lc94HnC/7T//+ICfYYEZBk=\t25\n",
		"dump": "KDLqBQCWZdQoRF9HiHyNoFqXWy7gAUWjCrhwoZJsyGM=\t" + pub + "\t51820\t0xca6c\n" +
			"WMQf7xDlOoqj1V0evRx7yLlmaMkmHbdKyOdvLSlEqwA=\t(none)\t(none)\t10.0.0.3/32\t0\t0\t0\toff\n" +
			"ApoOaCq8uiZNCE8bDkOL6lc94HnC/7T//+ICfYYEZBk=\tW04HUxgmEYKlMLOUXZG0Iw68aeL6vEHPZvy+WJoMKzA=\t10.99.0.2:51821\t0.0.0.0/0,::/0,192.168.50.0/24\t1795571677\t764\t1012\t25\n",
	}
	for field, want := range cases {
		var b bytes.Buffer
		if err := formatField(&b, st, field, ""); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("%s:\ngot  %q\nwant %q", field, b.String(), want)
		}
	}
	var b bytes.Buffer
	formatField(&b, st, "listen-port", "wga\t")
	if b.String() != "wga\t51820\n" {
		t.Errorf("all-prefixed listen-port = %q", b.String())
	}
	if err := formatField(&b, st, "bogus", ""); err == nil || err.Error() != "Invalid parameter: `bogus'" {
		t.Errorf("bogus field: %v", err)
	}
}

func TestFormatShowconf(t *testing.T) {
	st := testStatus(t, time.Unix(1795571684, 0))
	var b bytes.Buffer
	formatShowconf(&b, st)
	want := `[Interface]
ListenPort = 51820
FwMark = 0xca6c
PrivateKey = KDLqBQCWZdQoRF9HiHyNoFqXWy7gAUWjCrhwoZJsyGM=

[Peer]
PublicKey = WMQf7xDlOoqj1V0evRx7yLlmaMkmHbdKyOdvLSlEqwA=
AllowedIPs = 10.0.0.3/32

[Peer]
PublicKey = ApoOaCq8uiZNCE8bDkOL6lc94HnC/7T//+ICfYYEZBk=
PresharedKey = W04HUxgmEYKlMLOUXZG0Iw68aeL6vEHPZvy+WJoMKzA=
AllowedIPs = 0.0.0.0/0, ::/0, 192.168.50.0/24
Endpoint = 10.99.0.2:51821
PersistentKeepalive = 25
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
