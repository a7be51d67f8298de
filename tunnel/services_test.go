package tunnel

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/wgu-project/wgu/tunnel/config"
)

// A proxy without credentials on an address other hosts can reach is an open proxy into the tunnel: wgu warns at
// start, naming the service and address, and marks it on its `wgu show` line.
func TestOpenProxyWarning(t *testing.T) {
	tests := []struct {
		name       string
		addr       string
		user, pass string
		open       bool
	}{
		{"all IPv4 addresses", "0.0.0.0:1080", "", "", true},
		{"all IPv6 addresses", "[::]:1080", "", "", true},
		{"a LAN address", "192.0.2.10:1080", "", "", true},
		{"loopback", "127.0.0.1:1080", "", "", false},
		{"other loopback", "127.0.0.2:1080", "", "", false},
		{"IPv6 loopback", "[::1]:1080", "", "", false},
		{"with a password", "0.0.0.0:1080", "alice", "secret", false},
		{"with a password only", "0.0.0.0:1080", "", "secret", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			tun := &Tunnel{log: slog.New(slog.NewTextHandler(&logBuf, nil))}
			sec := config.Section{Name: "Socks5", Options: []config.Option{{Key: "BindAddress", Value: tt.addr}}}
			if tt.user != "" {
				sec.Options = append(sec.Options, config.Option{Key: "Username", Value: tt.user})
			}
			if tt.pass != "" {
				sec.Options = append(sec.Options, config.Option{Key: "Password", Value: tt.pass})
			}
			addr, err := net.ResolveTCPAddr("tcp", tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			note := tun.proxyNote(sec, "socks5", listenName(tt.addr, addr), addr)
			logged := logBuf.String()
			wantLine := "open proxy: anyone who can reach " + tt.addr + " can use this tunnel"
			if tt.open {
				if !strings.Contains(logged, wantLine) || !strings.Contains(logged, "level=WARN") || !strings.Contains(logged, "service=socks5") {
					t.Errorf("no warning naming the service and address; log:\n%s", logged)
				}
				if note != openProxyMark {
					t.Errorf("show line note %q, want %q", note, openProxyMark)
				}
			} else {
				if logged != "" {
					t.Errorf("unexpected log:\n%s", logged)
				}
				if strings.Contains(note, "OPEN") {
					t.Errorf("show line note %q marks a proxy that is not open", note)
				}
			}
			if tt.user != "" || tt.pass != "" {
				if note != " (password required)" {
					t.Errorf("show line note %q, want (password required)", note)
				}
				if strings.Contains(logged+note, tt.pass) {
					t.Errorf("the password is printed")
				}
			}
		})
	}
}

func TestMaxConnectionsKey(t *testing.T) {
	base := "[Interface]\nPrivateKey = " + testPrivateKeyText(t) + "\n\n"
	for _, sec := range []string{"Socks5", "http", "TCPClientTunnel", "TCPServerTunnel"} {
		body := "[" + sec + "]\nMaxConnections = 16\n"
		switch sec {
		case "TCPClientTunnel":
			body += "BindAddress = 127.0.0.1:5000\nTarget = 10.0.0.1:5000\n"
		case "TCPServerTunnel":
			body += "ListenPort = 5000\nTarget = 127.0.0.1:5000\n"
		default:
			body += "BindAddress = 127.0.0.1:1080\n"
		}
		cfg, err := config.ParseConfig("wg0.conf", strings.NewReader(base+body))
		if err != nil {
			t.Fatalf("[%s] MaxConnections = 16: %v", sec, err)
		}
		if got := maxConnections(cfg.Services[0]); got != 16 {
			t.Errorf("[%s]: MaxConnections read as %d, want 16", sec, got)
		}
	}
	for _, bad := range []string{"0", "-1", "lots", "99999999999"} {
		_, err := config.ParseConfig("wg0.conf", strings.NewReader(base+"[Socks5]\nBindAddress = 127.0.0.1:1080\nMaxConnections = "+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "MaxConnections") || !strings.Contains(err.Error(), "wg0.conf:6") {
			t.Errorf("MaxConnections = %s: error %v, want one naming wg0.conf:6 and the key", bad, err)
		}
	}
	if _, err := config.ParseConfig("wg0.conf", strings.NewReader(base+"[UDPProxyTunnel]\nBindAddress = 127.0.0.1:53\nTarget = 10.0.0.1:53\nMaxConnections = 5\n")); err == nil {
		t.Error("MaxConnections accepted in [UDPProxyTunnel], which has no connections")
	}
}

// testPrivateKeyText is a fresh private key in wg's text form.
func testPrivateKeyText(t *testing.T) string {
	t.Helper()
	k, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Reveal().String()
}
