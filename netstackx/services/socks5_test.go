package services

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/proxy"
)

func startSOCKS5(t *testing.T, res *Resolver, user, pass string) *SOCKS5 {
	t.Helper()
	if res == nil {
		res = NewResolver(HostNetwork{}, nil)
	}
	s := NewSOCKS5(listenTCP(t), HostNetwork{}, res, user, pass, nil)
	startService(t, s)
	return s
}

func TestSOCKS5Connect(t *testing.T) {
	data := randomBytes(t, 1<<20)
	tests := []struct {
		name       string
		serverUser string
		serverPass string
		auth       *proxy.Auth
		wantFail   bool
	}{
		{name: "no auth"},
		{name: "user and password", serverUser: "alice", serverPass: "s3cret", auth: &proxy.Auth{User: "alice", Password: "s3cret"}},
		{name: "wrong password", serverUser: "alice", serverPass: "s3cret", auth: &proxy.Auth{User: "alice", Password: "guess"}, wantFail: true},
		{name: "wrong user", serverUser: "alice", serverPass: "s3cret", auth: &proxy.Auth{User: "bob", Password: "s3cret"}, wantFail: true},
		{name: "auth required, none offered", serverUser: "alice", serverPass: "s3cret", wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoGoroutineLeak(t)
			echo := serveTCP(t, echoHandler)
			s := startSOCKS5(t, nil, tt.serverUser, tt.serverPass)
			d, err := proxy.SOCKS5("tcp", s.Addr().String(), tt.auth, proxy.Direct)
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.Dial("tcp", echo)
			if tt.wantFail {
				if err == nil {
					c.Close()
					t.Fatal("CONNECT succeeded with bad credentials")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if err := checkEcho(c, data); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSOCKS5ConnectDomain(t *testing.T) {
	checkNoGoroutineLeak(t)
	digest := serveTCP(t, sha256Handler)
	_, port, _ := net.SplitHostPort(digest)
	dns := startFakeDNS(t, map[string][]netip.Addr{"target.tunnel.test.": {netip.MustParseAddr("127.0.0.1")}})
	s := startSOCKS5(t, newResolverAddrPorts(HostNetwork{}, []netip.AddrPort{dns.addr}), "", "")
	d, err := proxy.SOCKS5("tcp", s.Addr().String(), nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial("tcp", net.JoinHostPort("target.tunnel.test", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := checkSHA256(c, randomBytes(t, 256<<10)); err != nil {
		t.Fatal(err)
	}
	if dns.udpQueries.Load() == 0 {
		t.Fatal("the name was not resolved through the configured DNS server")
	}
}

// socksRequestBytes builds a request for host (IP literal or name) and port.
func socksRequestBytes(cmd byte, host string, port uint16) []byte {
	b := []byte{socksVersion, cmd, 0}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		b = append(append(b, socksAtypIPv4), ip.AsSlice()...)
	} else if err == nil {
		b = append(append(b, socksAtypIPv6), ip.AsSlice()...)
	} else {
		b = append(append(b, socksAtypDomain, byte(len(host))), host...)
	}
	return binary.BigEndian.AppendUint16(b, port)
}

// socksRaw performs a no-auth handshake and sends req, returning the connection and the reply's code and bound
// address.
func socksRaw(t *testing.T, server string, req []byte) (net.Conn, byte, netip.AddrPort) {
	t.Helper()
	c := dialTCP(t, server)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte{socksVersion, 1, socksMethodNoAuth}); err != nil {
		t.Fatal(err)
	}
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil || m != [2]byte{socksVersion, socksMethodNoAuth} {
		t.Fatalf("method reply %v, %v", m, err)
	}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var hdr [3]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("read reply: %v", err)
	}
	host, port, err := readSOCKSAddr(c)
	if err != nil {
		t.Fatalf("reply address: %v", err)
	}
	c.SetDeadline(time.Time{})
	return c, hdr[1], netip.AddrPortFrom(netip.MustParseAddr(host), port)
}

func TestSOCKS5ReplyCodes(t *testing.T) {
	checkNoGoroutineLeak(t)
	dead := listenTCP(t)
	deadPort := uint16(dead.Addr().(*net.TCPAddr).Port)
	dead.Close()
	dns := startFakeDNS(t, map[string][]netip.Addr{})
	s := startSOCKS5(t, newResolverAddrPorts(HostNetwork{}, []netip.AddrPort{dns.addr}), "", "")
	tests := []struct {
		name string
		req  []byte
		want byte
	}{
		{"connection refused", socksRequestBytes(socksCmdConnect, "127.0.0.1", deadPort), socksRepConnectionRefused},
		{"unknown name", socksRequestBytes(socksCmdConnect, "nowhere.test", 80), socksRepHostUnreachable},
		{"BIND", socksRequestBytes(socksCmdBind, "127.0.0.1", 80), socksRepCmdNotSupported},
		{"unknown command", socksRequestBytes(0x09, "127.0.0.1", 80), socksRepCmdNotSupported},
		{"unknown address type", []byte{socksVersion, socksCmdConnect, 0, 0x07, 1, 2, 3, 4, 0, 80}, socksRepAtypNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, code, _ := socksRaw(t, s.Addr().String(), tt.req)
			if code != tt.want {
				t.Fatalf("reply code %#x, want %#x", code, tt.want)
			}
		})
	}
}

func TestSOCKS5NoAcceptableMethod(t *testing.T) {
	checkNoGoroutineLeak(t)
	s := startSOCKS5(t, nil, "alice", "pw")
	c := dialTCP(t, s.Addr().String())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte{socksVersion, 1, socksMethodNoAuth})
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil || m != [2]byte{socksVersion, socksMethodNone} {
		t.Fatalf("got %v, %v; want no acceptable method", m, err)
	}
}

// socksDatagram wraps payload in the UDP request header for dst.
func socksDatagram(frag byte, dst netip.AddrPort, payload []byte) []byte {
	b := []byte{0, 0, frag}
	b = appendSOCKSAddr(b, net.UDPAddrFromAddrPort(dst))
	return append(b, payload...)
}

func TestSOCKS5UDPAssociate(t *testing.T) {
	checkNoGoroutineLeak(t)
	echo := serveUDPEcho(t).AddrPort()
	dns := startFakeDNS(t, map[string][]netip.Addr{"udp.tunnel.test.": {netip.MustParseAddr("127.0.0.1")}})
	s := startSOCKS5(t, newResolverAddrPorts(HostNetwork{}, []netip.AddrPort{dns.addr}), "", "")

	ctrl, code, relay := socksRaw(t, s.Addr().String(), socksRequestBytes(socksCmdUDPAssociate, "0.0.0.0", 0))
	if code != socksRepSucceeded {
		t.Fatalf("UDP ASSOCIATE reply %#x", code)
	}
	if relay.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("relay bound on %v, want the TCP listener's IP 127.0.0.1", relay)
	}
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(relay))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })

	exchange := func(dgram []byte) ([]byte, error) {
		if _, err := uc.Write(dgram); err != nil {
			return nil, err
		}
		uc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 64<<10)
		n, err := uc.Read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}

	// A fragment is dropped: no answer.
	if got, err := exchange(socksDatagram(1, echo, []byte("fragment"))); err == nil {
		t.Fatalf("fragment was relayed: %q", got)
	}
	for _, payload := range []string{"hello", "world"} {
		got, err := exchange(socksDatagram(0, echo, []byte(payload)))
		if err != nil {
			t.Fatalf("no answer through the association: %v", err)
		}
		host, port, body, err := parseSOCKSDatagram(got)
		if err != nil {
			t.Fatal(err)
		}
		if net.JoinHostPort(host, strconv.Itoa(int(port))) != echo.String() {
			t.Fatalf("answer from %s:%d, want %v", host, port, echo)
		}
		if !bytes.Equal(body, []byte("echo:"+payload)) {
			t.Fatalf("answer %q", body)
		}
	}

	// A domain-name destination is resolved through the configured DNS server.
	dgram := append([]byte{0, 0, 0, socksAtypDomain, byte(len("udp.tunnel.test"))}, "udp.tunnel.test"...)
	dgram = binary.BigEndian.AppendUint16(dgram, echo.Port())
	got, err := exchange(append(dgram, "named"...))
	if err != nil {
		t.Fatalf("no answer for a named destination: %v", err)
	}
	if _, _, body, _ := parseSOCKSDatagram(got); string(body) != "echo:named" {
		t.Fatalf("answer %q", body)
	}

	// Closing the control connection ends the association.
	ctrl.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := exchange(socksDatagram(0, echo, []byte("late"))); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("association still relays after the control connection closed")
		}
	}
}

func TestSOCKS5CloseDuringTransfer(t *testing.T) {
	checkNoGoroutineLeak(t)
	stream := serveTCP(t, streamHandler)
	s := NewSOCKS5(listenTCP(t), HostNetwork{}, NewResolver(HostNetwork{}, nil), "", "", nil)
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context()) }()
	d, err := proxy.SOCKS5("tcp", s.Addr().String(), nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c, err := d.Dial("tcp", stream)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}
