package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Test keys, made with wg genkey / wg pubkey / wg genpsk.
const (
	testPriv = "wE6Cf3h2/w0PBg7p0d8rivyDxurG7y99Lc0a2h6u700="
	testPub  = "XzMAl8F38iylMJppYDyPhXtDLvw/SGvVHeqAQGVstT4=" // testPriv's public key
	peerPub1 = "EGJkVnwTRb8iXZGDuTazeFACO1elnbfSLpV3uj3rZGQ="
	peerPub2 = "S1/lYGjNFTOK2QJS+SpgFr6x0r0smIBrONpPPlbqpgk="
	testPSK  = "jmiUud/2af6UEw0EaAUDd2QuFYn2AWa9K7XyqGNlnec="
)

func mustKey(t testing.TB, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatalf("ParseKey(%q): %v", s, err)
	}
	return k
}

func parseString(t *testing.T, text string) (*Config, error) {
	t.Helper()
	return ParseConfig("wg0.conf", strings.NewReader(text))
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestParseConfigFull(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "full.conf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	got, err := ParseConfig("full.conf", f)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Interface: Interface{
			PrivateKey: mustKey(t, testPriv).Secret(),
			ListenPort: 51820,
			FwMark:     0xca6c,
			Addresses:  prefixes("10.0.0.1/24", "fd00::1/64", "10.0.1.1/32"),
			DNS:        []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2606:4700::1111")},
			DNSSearch:  []string{"example.com", "corp.local"},
			MTU:        1420,
			Table:      "1234",
			PreUp:      []string{"echo pre-up %i"},
			PostUp:     []string{"echo up %i # still part of the hook", "logger -t wg 'up'"},
			PreDown:    []string{"echo pre-down"},
			PostDown:   []string{"echo down"},
			SaveConfig: true,
		},
		Peers: []Peer{
			{
				PublicKey:           mustKey(t, peerPub1),
				PresharedKey:        mustKey(t, testPSK).Secret(),
				AllowedIPs:          prefixes("10.0.0.2/32", "10.1.0.0/16", "fd00::2/128", "192.168.1.7/24"),
				Endpoint:            Endpoint{Host: "vpn.example.com", Port: 51820},
				PersistentKeepalive: 25,
			},
			{
				PublicKey:  mustKey(t, peerPub2),
				AllowedIPs: prefixes("0.0.0.0/0", "::/0"),
				Endpoint:   Endpoint{Host: "fe80::1%eth0", Port: 51821},
			},
		},
		Services: []Section{
			{Name: "Socks5", Line: 33, Options: []Option{
				{Key: "BindAddress", Value: "127.0.0.1:1080", Line: 34},
				{Key: "Username", Value: "user", Line: 35},
				{Key: "Password", Value: "secret", Line: 36},
			}},
			{Name: "TCPServerTunnel", Line: 38, Options: []Option{
				{Key: "ListenPort", Value: "8080", Line: 39},
				{Key: "target", Value: "localhost:80", Line: 40},
			}},
		},
	}
	got.src = nil // where things were written, for warnings
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseConfig:\n got %+v\nwant %+v", got, want)
	}
}

// base is a minimal valid [Interface]; tests append to it.
const base = "[Interface]\nPrivateKey = " + testPriv + "\n"

func TestParseConfigRules(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, c *Config)
	}{
		{"minimal", base, func(t *testing.T, c *Config) {
			if c.Interface.PrivateKey != mustKey(t, testPriv).Secret() || len(c.Peers) != 0 || c.Name != "" {
				t.Errorf("got %+v", c)
			}
		}},
		{"case-insensitive sections and keys", "[iNtErFaCe]\nprivatekey=" + testPriv + "\nLISTENPORT = 7\n[PEER]\npublicKEY=" + peerPub1 + "\n", func(t *testing.T, c *Config) {
			if c.Interface.ListenPort != 7 || len(c.Peers) != 1 {
				t.Errorf("got %+v", c)
			}
		}},
		{"whitespace inside brackets and keys", "[ Interface ]\n\tPrivate Key =\t" + testPriv + "  \r\nListen Port = 9\n[ Peer ]\nPublicKey = " + peerPub1 + "\n", func(t *testing.T, c *Config) {
			if c.Interface.ListenPort != 9 || len(c.Peers) != 1 {
				t.Errorf("got %+v", c)
			}
		}},
		{"comments and blank lines", "# leading comment\n\n" + base + "  # indented comment\nListenPort = 5 # trailing\n", func(t *testing.T, c *Config) {
			if c.Interface.ListenPort != 5 {
				t.Errorf("ListenPort = %d", c.Interface.ListenPort)
			}
		}},
		{"no final newline", strings.TrimSuffix(base, "\n"), func(t *testing.T, c *Config) {
			if c.Interface.PrivateKey.IsZero() {
				t.Error("key lost")
			}
		}},
		{"hooks keep # and %i and accumulate", base + "PostUp = iptables -A x -m comment --comment '#1' %i\nPostUp=echo two\nPreDown = a # b\n", func(t *testing.T, c *Config) {
			want := []string{"iptables -A x -m comment --comment '#1' %i", "echo two"}
			if !reflect.DeepEqual(c.Interface.PostUp, want) || !reflect.DeepEqual(c.Interface.PreDown, []string{"a # b"}) {
				t.Errorf("PostUp %q PreDown %q", c.Interface.PostUp, c.Interface.PreDown)
			}
		}},
		{"Address split on commas and spaces, accumulates, no bits means host", base + "Address = 10.0.0.1/24, fd00::1/64 10.9.9.9\nAddress=fd00::9\n", func(t *testing.T, c *Config) {
			if want := prefixes("10.0.0.1/24", "fd00::1/64", "10.9.9.9/32", "fd00::9/128"); !reflect.DeepEqual(c.Interface.Addresses, want) {
				t.Errorf("Addresses %v", c.Interface.Addresses)
			}
		}},
		{"DNS nameservers and search domains", base + "DNS = 1.1.1.1, example.com\nDNS = 2606:4700::1111 corp.local, fe80::1%eth0\n", func(t *testing.T, c *Config) {
			wantNS := []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2606:4700::1111"), netip.MustParseAddr("fe80::1%eth0")}
			if !reflect.DeepEqual(c.Interface.DNS, wantNS) || !reflect.DeepEqual(c.Interface.DNSSearch, []string{"example.com", "corp.local"}) {
				t.Errorf("DNS %v search %v", c.Interface.DNS, c.Interface.DNSSearch)
			}
		}},
		{"DNS routing domains", base + "DNS = 10.2.0.1, ~., ~corp.example\n", func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c.Interface.DNSSearch, []string{"~.", "~corp.example"}) {
				t.Errorf("search %v", c.Interface.DNSSearch)
			}
		}},
		{"last MTU and Table win", base + "MTU = 1400\nMTU = 1280\nTable = 100\nTable = main\n", func(t *testing.T, c *Config) {
			if c.Interface.MTU != 1280 || c.Interface.Table != "main" {
				t.Errorf("MTU %d Table %q", c.Interface.MTU, c.Interface.Table)
			}
		}},
		{"Table off and auto fold to lower case", base + "Table = OFF\n", func(t *testing.T, c *Config) {
			if c.Interface.Table != "off" {
				t.Errorf("Table %q", c.Interface.Table)
			}
		}},
		{"Table auto", base + "Table = Auto\n", func(t *testing.T, c *Config) {
			if c.Interface.Table != "auto" {
				t.Errorf("Table %q", c.Interface.Table)
			}
		}},
		{"SaveConfig any case", base + "SaveConfig = TRUE\n", func(t *testing.T, c *Config) {
			if !c.Interface.SaveConfig {
				t.Error("SaveConfig false")
			}
		}},
		{"SaveConfig false", base + "SaveConfig = true\nSaveConfig = False\n", func(t *testing.T, c *Config) {
			if c.Interface.SaveConfig {
				t.Error("SaveConfig true")
			}
		}},
		{"FwMark forms", base + "FwMark = 0xca6c\n", func(t *testing.T, c *Config) {
			if c.Interface.FwMark != 0xca6c {
				t.Errorf("FwMark %#x", c.Interface.FwMark)
			}
		}},
		{"FwMark decimal with leading zero", base + "FwMark = 010\n", func(t *testing.T, c *Config) {
			if c.Interface.FwMark != 10 {
				t.Errorf("FwMark %d", c.Interface.FwMark)
			}
		}},
		{"FwMark max", base + "FwMark = 0xffffffff\n", func(t *testing.T, c *Config) {
			if c.Interface.FwMark != 0xffffffff {
				t.Errorf("FwMark %#x", c.Interface.FwMark)
			}
		}},
		{"FwMark off", base + "FwMark = 5\nFwMark = Off\n", func(t *testing.T, c *Config) {
			if c.Interface.FwMark != 0 {
				t.Errorf("FwMark %d", c.Interface.FwMark)
			}
		}},
		{"ListenPort bounds", base + "ListenPort = 65535\n", func(t *testing.T, c *Config) {
			if c.Interface.ListenPort != 65535 {
				t.Errorf("ListenPort %d", c.Interface.ListenPort)
			}
		}},
		{"ListenPort zero", base + "ListenPort = 0\n", func(t *testing.T, c *Config) {
			if c.Interface.ListenPort != 0 {
				t.Errorf("ListenPort %d", c.Interface.ListenPort)
			}
		}},
		{"multiple Interface sections merge", base + "[Interface]\nListenPort = 3\n", func(t *testing.T, c *Config) {
			if c.Interface.ListenPort != 3 || c.Interface.PrivateKey.IsZero() {
				t.Errorf("got %+v", c.Interface)
			}
		}},
		{"peer keys", base + "[Peer]\nPublicKey = " + peerPub1 + "\nPresharedKey = " + testPSK + "\nAllowedIPs = 10.0.0.2, fd00::2\nAllowedIPs = 10.1.0.1/16\nEndpoint = [::1]:51820\nPersistentKeepalive = 25\n[Peer]\nPublicKey=" + peerPub2 + "\nEndpoint = ::1:5\nPersistentKeepalive = off\n", func(t *testing.T, c *Config) {
			want := []Peer{{
				PublicKey: mustKey(t, peerPub1), PresharedKey: mustKey(t, testPSK).Secret(),
				AllowedIPs: prefixes("10.0.0.2/32", "fd00::2/128", "10.1.0.1/16"),
				Endpoint:   Endpoint{Host: "::1", Port: 51820}, PersistentKeepalive: 25,
			}, {
				PublicKey: mustKey(t, peerPub2), Endpoint: Endpoint{Host: "::1", Port: 5},
			}}
			if !reflect.DeepEqual(c.Peers, want) {
				t.Errorf("Peers\n got %+v\nwant %+v", c.Peers, want)
			}
		}},
		{"endpoint forms", base + "[Peer]\nPublicKey = " + peerPub1 + "\nEndpoint = 192.0.2.1:1\n[Peer]\nPublicKey = " + peerPub2 + "\nEndpoint = [fe80::1%lo]:65535\n", func(t *testing.T, c *Config) {
			if c.Peers[0].Endpoint != (Endpoint{Host: "192.0.2.1", Port: 1}) || c.Peers[1].Endpoint != (Endpoint{Host: "fe80::1%lo", Port: 65535}) {
				t.Errorf("endpoints %+v %+v", c.Peers[0].Endpoint, c.Peers[1].Endpoint)
			}
		}},
		{"hostname endpoint with trailing dot and underscore", base + "[Peer]\nPublicKey = " + peerPub1 + "\nEndpoint = my_host.example.org.:443\n", func(t *testing.T, c *Config) {
			if c.Peers[0].Endpoint != (Endpoint{Host: "my_host.example.org.", Port: 443}) {
				t.Errorf("endpoint %+v", c.Peers[0].Endpoint)
			}
		}},
		{"AllowedIPs host bits kept as written", base + "[Peer]\nPublicKey = " + peerPub1 + "\nAllowedIPs = 10.0.0.1/24\n", func(t *testing.T, c *Config) {
			if got := c.Peers[0].AllowedIPs[0].String(); got != "10.0.0.1/24" {
				t.Errorf("AllowedIPs %s", got)
			}
		}},
		{"keepalive max", base + "[Peer]\nPublicKey = " + peerPub1 + "\nPersistentKeepalive = 65535\n", func(t *testing.T, c *Config) {
			if c.Peers[0].PersistentKeepalive != 65535 {
				t.Errorf("keepalive %d", c.Peers[0].PersistentKeepalive)
			}
		}},
		{"zero preshared key means none", base + "[Peer]\nPublicKey = " + peerPub1 + "\nPresharedKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", func(t *testing.T, c *Config) {
			if !c.Peers[0].PresharedKey.IsZero() {
				t.Error("psk set")
			}
		}},
		{"service sections", base + "[socks5]\nbindaddress = :1080\n[http]\nBindAddress = 127.0.0.1:3128\nUsername = u\n[TCPClientTunnel]\nBindAddress = 127.0.0.1:25565\nTarget = play.example.net:25565\n[UDPProxyTunnel]\nBindAddress = [::1]:53\nTarget = 10.0.0.53:53\nInactivityTimeout = 60\n", func(t *testing.T, c *Config) {
			var names []string
			for _, s := range c.Services {
				names = append(names, s.Name)
			}
			if !reflect.DeepEqual(names, []string{"socks5", "http", "TCPClientTunnel", "UDPProxyTunnel"}) {
				t.Errorf("services %v", names)
			}
			if o := c.Services[0].Options[0]; o != (Option{Key: "bindaddress", Value: ":1080", Line: 4}) {
				t.Errorf("option %+v", o)
			}
			if s := c.Services[3]; s.Line != 11 || len(s.Options) != 3 {
				t.Errorf("UDPProxyTunnel %+v", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseString(t, tt.text)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	peer := "[Peer]\nPublicKey = " + peerPub1 + "\n"
	tests := []struct {
		name string
		text string
		line int
		key  string
		msg  string // substring of the message
	}{
		{"empty file", "", 0, "", "missing [Interface]"},
		{"only peers", "[Peer]\nPublicKey = " + peerPub1 + "\n", 0, "", "missing [Interface]"},
		{"missing private key", "# c\n[Interface]\nListenPort = 1\n", 2, "", "missing PrivateKey in [Interface]"},
		{"line before any section", "ListenPort = 1\n" + base, 1, "ListenPort", "before any section"},
		{"unknown section", base + "[Wireguard]\n", 3, "", "unknown section [Wireguard]"},
		{"broken header", base + "[Peer\n", 3, "", "not a section header"},
		{"header with trailing junk", base + "[Peer] x\n", 3, "", "not a section header"},
		{"no equals", base + "ListenPort 5\n", 3, "", "KEY = VALUE"},
		{"no key", base + " = 5\n", 3, "", "no key"},
		{"unknown interface key", base + "Foo = bar\n", 3, "Foo", "unknown key in [Interface] (valid keys: PrivateKey, ListenPort"},
		{"peer key in interface", base + "PublicKey = " + peerPub1 + "\n", 3, "PublicKey", "belongs in a [Peer] section"},
		{"unknown peer key", base + peer + "Bar = 1\n", 5, "Bar", "unknown key in [Peer] (valid keys: PublicKey"},
		{"interface key in peer", base + peer + "Address = 10.0.0.1\n", 5, "Address", "belongs in the [Interface] section"},
		{"private key in peer", base + peer + "PrivateKey = " + testPriv + "\n", 5, "PrivateKey", "belongs in the [Interface]"},
		{"empty value", base + "ListenPort =\n", 3, "ListenPort", "empty value"},
		{"empty value after comment strip", base + "ListenPort = # none\n", 3, "ListenPort", "empty value"},
		{"empty AllowedIPs", base + peer + "AllowedIPs = \n", 5, "AllowedIPs", "empty value"},
		{"empty hook", base + "PostUp =   \n", 3, "PostUp", "empty value"},
		{"bad private key", base + "PrivateKey = abc\n", 3, "PrivateKey", "not a valid key"},
		{"zero private key", "[Interface]\nPrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 2, "PrivateKey", "all zeros"},
		{"bad public key", base + "[Peer]\nPublicKey = " + peerPub1[:43] + "\n", 4, "PublicKey", "not a valid key"},
		{"bad psk", base + peer + "PresharedKey = xyz\n", 5, "PresharedKey", "not a valid key"},
		{"listen port too big", base + "ListenPort = 65536\n", 3, "ListenPort", "expected a port number, 0 to 65535"},
		{"listen port service name", base + "ListenPort = http\n", 3, "ListenPort", "service names are not supported"},
		{"listen port negative", base + "ListenPort = -1\n", 3, "ListenPort", "not a port number"},
		{"fwmark too big", base + "FwMark = 0x100000000\n", 3, "FwMark", "neither off nor a mark"},
		{"fwmark bare 0x", base + "FwMark = 0x\n", 3, "FwMark", "neither off nor a mark"},
		{"fwmark upper 0X", base + "FwMark = 0X10\n", 3, "FwMark", "neither off nor a mark"},
		{"fwmark word", base + "FwMark = on\n", 3, "FwMark", "neither off nor a mark"},
		{"keepalive too big", base + peer + "PersistentKeepalive = 70000\n", 5, "PersistentKeepalive", "neither off nor an interval"},
		{"keepalive word", base + peer + "PersistentKeepalive = never\n", 5, "PersistentKeepalive", "neither off nor an interval"},
		{"mtu zero", base + "MTU = 0\n", 3, "MTU", "expected a number from 576 to 65535"},
		{"mtu small", base + "MTU = 100\n", 3, "MTU", "expected a number from 576"},
		{"mtu word", base + "MTU = auto\n", 3, "MTU", "not a usable MTU"},
		{"table bad", base + "Table = a b\n", 3, "Table", "not a routing table"},
		{"table too big", base + "Table = 99999999999\n", 3, "Table", "out of range"},
		{"saveconfig yes", base + "SaveConfig = yes\n", 3, "SaveConfig", `"yes" is neither true nor false`},
		{"address bad", base + "Address = 10.0.0.300/24\n", 3, "Address", `"10.0.0.300/24" is not a valid IP prefix`},
		{"address zone", base + "Address = fe80::1%eth0\n", 3, "Address", "not a valid IP prefix"},
		{"dns bad ip", base + "DNS = 10.0.0.300\n", 3, "DNS", `"10.0.0.300" is not a valid IP address`},
		{"dns bad name", base + "DNS = exa$mple.com\n", 3, "DNS", "neither an IP address nor a domain name"},
		{"allowed ip bits", base + peer + "AllowedIPs = 10.0.0.1/33\n", 5, "AllowedIPs", `"10.0.0.1/33" is not a valid IP prefix (expected ADDRESS[/BITS], e.g. 10.0.0.0/24)`},
		{"allowed ip trailing slash", base + peer + "AllowedIPs = 10.0.0.1/\n", 5, "AllowedIPs", "not a valid IP prefix"},
		{"allowed ip bad v4", base + peer + "AllowedIPs = 10.0.0.300\n", 5, "AllowedIPs", "not a valid IP prefix"},
		{"allowed ip leading zero", base + peer + "AllowedIPs = 010.0.0.1\n", 5, "AllowedIPs", "not a valid IP prefix"},
		{"allowed ip v6 bits", base + peer + "AllowedIPs = fd00::/129\n", 5, "AllowedIPs", "not a valid IP prefix"},
		{"allowed ip empty entry", base + peer + "AllowedIPs = 10.0.0.1,,10.0.0.2\n", 5, "AllowedIPs", "empty entry"},
		{"allowed ip trailing comma", base + peer + "AllowedIPs = 10.0.0.1,\n", 5, "AllowedIPs", "empty entry"},
		{"allowed ip space separated", base + peer + "AllowedIPs = 10.0.0.1 10.0.0.2\n", 5, "AllowedIPs", "separate entries with commas"},
		{"duplicate peer key as written", base + peer + "[Peer]\npublickey = " + peerPub1 + "\n", 6, "publickey", "already defined"},
		{"allowed ip minus", base + peer + "AllowedIPs = -10.0.0.1\n", 5, "AllowedIPs", "+/- prefixes"},
		{"endpoint no port", base + peer + "Endpoint = 1.2.3.4\n", 5, "Endpoint", "has no port"},
		{"endpoint no brace", base + peer + "Endpoint = [::1:51820\n", 5, "Endpoint", "no matching ']'"},
		{"endpoint brace no port", base + peer + "Endpoint = [::1]51820\n", 5, "Endpoint", "no port after ']'"},
		{"endpoint v4 in brackets", base + peer + "Endpoint = [1.2.3.4]:5\n", 5, "Endpoint", "not an IPv6 address"},
		{"endpoint port zero", base + peer + "Endpoint = 1.2.3.4:0\n", 5, "Endpoint", "expected 1 to 65535"},
		{"endpoint port big", base + peer + "Endpoint = 1.2.3.4:99999\n", 5, "Endpoint", "expected 1 to 65535"},
		{"endpoint port word", base + peer + "Endpoint = host.example:wg\n", 5, "Endpoint", "not a port number"},
		{"endpoint bad host", base + peer + "Endpoint = bad host:5\n", 5, "Endpoint", "neither an IP address nor a host name"},
		{"endpoint numeric non-ip", base + peer + "Endpoint = 10.0.0.300:5\n", 5, "Endpoint", "neither an IP address nor a host name"},
		{"endpoint bad v6", base + peer + "Endpoint = fe80:::1:5\n", 5, "Endpoint", "not a valid IPv6 address"},
		{"peer without public key", base + "[Peer]\nAllowedIPs = 10.0.0.2\n", 3, "", "[Peer] has no PublicKey"},
		{"duplicate peer", base + peer + "\n[Peer]\nPublicKey = " + peerPub1 + "\n", 7, "PublicKey", "already defined by the [Peer] on line 3"},
		{"own public key", base + "[Peer]\nPublicKey = " + testPub + "\n", 4, "PublicKey", "own public key"},
		{"unknown service key", base + "[Socks5]\nBindAddress = :1080\nTarget = x:1\n", 5, "Target", "unknown key in [Socks5] (valid keys: BindAddress, Username, Password, MaxConnections)"},
		{"service missing key", base + "[TCPServerTunnel]\nTarget = x:1\n", 3, "", "[TCPServerTunnel] has no ListenPort"},
		{"service bad port", base + "[TCPServerTunnel]\nListenPort = 0\nTarget = x:1\n", 4, "ListenPort", "expected 1 to 65535"},
		{"service bad target", base + "[TCPClientTunnel]\nBindAddress = :1\nTarget = nowhere\n", 5, "Target", "not HOST:PORT"},
		{"service repeated key", base + "[http]\nBindAddress = :1\nBindAddress = :2\n", 5, "BindAddress", "given twice"},
		{"service bad timeout", base + "[UDPProxyTunnel]\nBindAddress = :53\nTarget = 1.1.1.1:53\nInactivityTimeout = soon\n", 6, "InactivityTimeout", "number of seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseString(t, tt.text)
			if err == nil {
				t.Fatalf("ParseConfig succeeded: %+v", c)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if pe.File != "wg0.conf" || pe.Line != tt.line || pe.Key != tt.key {
				t.Errorf("error at %s:%d key %q, want wg0.conf:%d key %q (%v)", pe.File, pe.Line, pe.Key, tt.line, tt.key, err)
			}
			loc := "wg0.conf"
			if tt.line > 0 {
				loc += ":" + strconv.Itoa(tt.line)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, loc+": ") || !strings.Contains(msg, tt.msg) || !strings.Contains(msg, tt.key) {
				t.Errorf("message %q: want prefix %q, key %q and %q", msg, loc, tt.key, tt.msg)
			}
		})
	}
}

func TestParseErrorDoesNotEchoSecrets(t *testing.T) {
	secret := testPriv[:40] + "ab?="
	_, err := parseString(t, "[Interface]\nPrivateKey = "+secret+"\n")
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("error %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "wg-test_0.conf")
	if err := os.WriteFile(good, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "wg-test_0" {
		t.Errorf("Name = %q", c.Name)
	}

	for _, name := range []string{"my config.conf", "waytoolonginterface.conf", "wg0.cfg", ".conf"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(base), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), "valid interface name, followed by .conf") {
			t.Errorf("LoadConfig(%q) = %v, want the name rule", name, err)
		}
	}

	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte(base+"Foo = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(bad); err == nil || !strings.HasPrefix(err.Error(), bad+":3: Foo:") {
		t.Errorf("LoadConfig(bad) = %v", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadConfig(missing) = %v", err)
	}
}

func TestParseConfigZones(t *testing.T) {
	for _, bad := range []string{
		"[Peer]\nPublicKey = " + peerPub1 + "\nEndpoint = ::%]:1\n",
		"[Peer]\nPublicKey = " + peerPub1 + "\nEndpoint = [fe80::1%a b]:1\n",
		"DNS = fe80::1%\n",
		"DNS = fe80::1%a/b\n",
	} {
		if _, err := parseString(t, base+bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
