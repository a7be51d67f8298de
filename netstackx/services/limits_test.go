package services

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// echoOnce writes msg on c and reports whether it came back (through the service, from an echo server).
func echoOnce(c net.Conn, msg string) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return false
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return err == nil && string(buf) == msg
}

// socksConnect opens a SOCKS5 CONNECT to target, reporting false when the server turns the client away.
func socksConnect(t *testing.T, server, target string) (net.Conn, bool) {
	t.Helper()
	c := dialTCP(t, server)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	ap := mustAddrPort(t, target)
	if _, err := c.Write(append([]byte{socksVersion, 1, socksMethodNoAuth}, socksRequestBytes(socksCmdConnect, ap.Addr().String(), ap.Port())...)); err != nil {
		return c, false
	}
	var reply [2 + 10]byte // method choice, then a reply with an IPv4 address
	if _, err := io.ReadFull(c, reply[:]); err != nil || reply[3] != socksRepSucceeded {
		return c, false
	}
	return c, true
}

// Past MaxConnections, new clients are refused and the connected ones keep working; a freed slot admits a client
// again.
func TestConnectionCap(t *testing.T) {
	const limit = 3
	tests := []struct {
		name string
		// start returns the service capped at limit; open connects one client and reports whether it is served.
		start func(t *testing.T, echo string) Service
		open  func(t *testing.T, svc Service, echo string) (net.Conn, bool)
	}{
		{"forward", func(t *testing.T, echo string) Service {
			f := NewTCPForward(listenTCP(t), HostNetwork{}, echo, nil)
			f.SetMaxConnections(limit)
			return f
		}, func(t *testing.T, svc Service, _ string) (net.Conn, bool) {
			c := dialTCP(t, svc.Addr().String())
			return c, echoOnce(c, "hello")
		}},
		{"expose", func(t *testing.T, echo string) Service {
			e := NewTCPExpose(listenTCP(t), echo, nil)
			e.SetMaxConnections(limit)
			return e
		}, func(t *testing.T, svc Service, _ string) (net.Conn, bool) {
			c := dialTCP(t, svc.Addr().String())
			return c, echoOnce(c, "hello")
		}},
		{"socks5", func(t *testing.T, echo string) Service {
			s := NewSOCKS5(listenTCP(t), HostNetwork{}, NewResolver(HostNetwork{}, nil), "", "", nil)
			s.SetMaxConnections(limit)
			return s
		}, func(t *testing.T, svc Service, echo string) (net.Conn, bool) {
			c, ok := socksConnect(t, svc.Addr().String(), echo)
			return c, ok && echoOnce(c, "hello")
		}},
		{"http", func(t *testing.T, echo string) Service {
			p := NewHTTPProxy(listenTCP(t), HostNetwork{}, NewResolver(HostNetwork{}, nil), "", "", nil)
			p.SetMaxConnections(limit)
			return p
		}, func(t *testing.T, svc Service, echo string) (net.Conn, bool) {
			c := dialTCP(t, svc.Addr().String())
			c.SetDeadline(time.Now().Add(5 * time.Second))
			defer c.SetDeadline(time.Time{})
			if _, err := io.WriteString(c, "CONNECT "+echo+" HTTP/1.1\r\nHost: "+echo+"\r\n\r\n"); err != nil {
				return c, false
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusOK || br.Buffered() != 0 {
				if err == nil {
					t.Logf("refused with %s", resp.Status)
				}
				return c, false
			}
			return c, echoOnce(c, "hello")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoGoroutineLeak(t)
			echo := serveTCP(t, echoHandler)
			svc := tt.start(t, echo)
			startService(t, svc)
			var conns []net.Conn
			for i := range limit {
				c, ok := tt.open(t, svc, echo)
				if !ok {
					t.Fatalf("client %d of %d was not served", i+1, limit)
				}
				conns = append(conns, c)
			}
			if c, ok := tt.open(t, svc, echo); ok {
				t.Fatalf("client %d was served past MaxConnections = %d", limit+1, limit)
			} else {
				c.Close()
			}
			for i, c := range conns {
				if !echoOnce(c, "still here") {
					t.Fatalf("connected client %d stopped working when a client over the cap came", i+1)
				}
			}
			// A client leaves: its slot is free once the service has noticed.
			conns[0].Close()
			deadline := time.Now().Add(5 * time.Second)
			for {
				c, ok := tt.open(t, svc, echo)
				if ok {
					break
				}
				c.Close()
				if time.Now().After(deadline) {
					t.Fatal("no client admitted after one of the connected ones left")
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// UDP associations are capped apart from connections: each holds sockets on the host and in the tunnel.
func TestSOCKS5UDPAssociationCap(t *testing.T) {
	checkNoGoroutineLeak(t)
	s := NewSOCKS5(listenTCP(t), HostNetwork{}, NewResolver(HostNetwork{}, nil), "", "", nil)
	s.SetMaxUDPAssociations(2)
	startService(t, s)
	var ctrls []net.Conn
	for i := range 2 {
		c, code, _ := socksRaw(t, s.Addr().String(), socksRequestBytes(socksCmdUDPAssociate, "0.0.0.0", 0))
		if code != socksRepSucceeded {
			t.Fatalf("association %d refused with %#x", i+1, code)
		}
		ctrls = append(ctrls, c)
	}
	if _, code, _ := socksRaw(t, s.Addr().String(), socksRequestBytes(socksCmdUDPAssociate, "0.0.0.0", 0)); code == socksRepSucceeded {
		t.Fatal("a third UDP association was granted past the cap of 2")
	}
	// CONNECT is not affected by the association cap.
	echo := serveTCP(t, echoHandler)
	if c, ok := socksConnect(t, s.Addr().String(), echo); !ok || !echoOnce(c, "hi") {
		t.Fatal("CONNECT refused while the UDP associations are full")
	}
	ctrls[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, code, _ := socksRaw(t, s.Addr().String(), socksRequestBytes(socksCmdUDPAssociate, "0.0.0.0", 0))
		c.Close()
		if code == socksRepSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no association granted after one ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
