package services

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wgu-project/wgu/internal/leakcheck"
	"github.com/wgu-project/wgu/netstackx"
)

// vanishLab is a relay service on netstack device a whose target listens on device c, the two joined by a wire:
// the tunnel. The target accepts and then never reads, so the relay's writes into the tunnel block once the
// windows and buffers are full, as they do when the far side stops reading or is gone.
type vanishLab struct {
	a, c   *netstackx.Device
	target string
	held   chan net.Conn // the target's accepted connections
}

func newVanishLab(t *testing.T) *vanishLab {
	t.Helper()
	l := &vanishLab{a: newTestDevice(t, false, "10.0.0.1/24"), c: newTestDevice(t, false, "10.0.0.2/24"), held: make(chan net.Conn, 4)}
	newWire(t, l.a, l.c)
	ln, err := l.c.Listen("tcp", "10.0.0.2:7000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	l.target = "10.0.0.2:7000"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.held <- c
		}
	}()
	t.Cleanup(func() {
		for {
			select {
			case c := <-l.held:
				c.Close()
			default:
				return
			}
		}
	})
	return l
}

// relayServices builds each relaying service on n, to target, with a short write stall so a test sees it act.
var relayServices = []struct {
	name string
	// start returns the service and a client connection through it to target, past any handshake.
	start func(t *testing.T, n Network, target string) (*serviceBase, net.Conn)
}{
	{"forward", func(t *testing.T, n Network, target string) (*serviceBase, net.Conn) {
		f := NewTCPForward(listenTCP(t), n, target, nil)
		f.base.writeStall = time.Second
		startService(t, f)
		return &f.base, dialTCP(t, f.Addr().String())
	}},
	{"socks5", func(t *testing.T, n Network, target string) (*serviceBase, net.Conn) {
		s := NewSOCKS5(listenTCP(t), n, &Resolver{}, "", "", nil)
		s.base.writeStall = time.Second
		startService(t, s)
		c := dialTCP(t, s.Addr().String())
		ap := mustAddrPort(t, target)
		ip := ap.Addr().As4()
		req := append([]byte{5, 1, 0, 5, 1, 0, 1}, ip[:]...)
		req = append(req, byte(ap.Port()>>8), byte(ap.Port()))
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		reply := make([]byte, 2+10)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, reply); err != nil || reply[3] != socksRepSucceeded {
			t.Fatalf("SOCKS5 CONNECT: %v %x", err, reply)
		}
		c.SetReadDeadline(time.Time{})
		return &s.base, c
	}},
	{"http-connect", func(t *testing.T, n Network, target string) (*serviceBase, net.Conn) {
		p := NewHTTPProxy(listenTCP(t), n, &Resolver{}, "", "", nil)
		p.base.writeStall = time.Second
		startService(t, p)
		c := dialTCP(t, p.Addr().String())
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %v %v", err, resp)
		}
		c.SetReadDeadline(time.Time{})
		return &p.base, c
	}},
}

// fillUntilBlocked writes into c until a write has not finished for a while: the relay behind it is stuck
// writing into the tunnel.
func fillUntilBlocked(t *testing.T, c net.Conn) {
	t.Helper()
	buf := make([]byte, 64<<10)
	for total := 0; total < 256<<20; total += len(buf) {
		c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write(buf); err != nil {
			c.SetWriteDeadline(time.Time{})
			return
		}
	}
	t.Fatal("256 MiB went into a tunnel whose far end reads nothing")
}

// waitRelaysGone waits until the service holds no connection and runs no goroutine but its accept loop: every
// other goroutine must have been running at snapshot, taken before the service started.
func waitRelaysGone(t *testing.T, b *serviceBase, snapshot goleak.Option, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b.mu.Lock()
		open := len(b.closers)
		b.mu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d connections still held", within, open)
		}
		time.Sleep(20 * time.Millisecond) // nothing announces an untrack: poll the map
	}
	// The service keeps serving: its accept loop is expected, anything else is a relay left behind.
	if err := leakcheck.Find(time.Until(deadline), snapshot, goleak.IgnoreAnyFunction(acceptLoop)); err != nil {
		t.Fatal(err)
	}
}

// acceptLoop is the function a serving service's accept loop runs, as goleak names it.
const acceptLoop = "github.com/wgu-project/wgu/netstackx/services.(*serviceBase).serveConns"

// TestRelayNoticesVanishedClient kills a client (RST) in the middle of an upload whose tunnel side has stopped
// taking data: the relay must close the tunnel side and end its goroutines, not wait in Write for good.
func TestRelayNoticesVanishedClient(t *testing.T) {
	for _, svc := range relayServices {
		t.Run(svc.name, func(t *testing.T) {
			l := newVanishLab(t)
			snapshot := leakcheck.Snapshot()
			b, c := svc.start(t, l.a, l.target)
			var far net.Conn
			select {
			case far = <-l.held:
			case <-time.After(10 * time.Second):
				t.Fatal("the target never saw the connection")
			}
			fillUntilBlocked(t, c)
			c.(*net.TCPConn).SetLinger(0)
			c.Close() // a killed client: RST
			waitRelaysGone(t, b, snapshot, 10*time.Second)
			// The far end sees its connection end once it reads what was buffered for it.
			far.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.Copy(io.Discard, far); err != nil {
				t.Errorf("tunnel side after the client vanished: %v", err)
			}
		})
	}
}

// TestRelayNoticesVanishedTunnelPeer makes the tunnel-side peer disappear (its stack is gone, nothing answers)
// while a client is uploading: the relay must give up and close the client.
func TestRelayNoticesVanishedTunnelPeer(t *testing.T) {
	for _, svc := range relayServices {
		t.Run(svc.name, func(t *testing.T) {
			l := newVanishLab(t)
			snapshot := leakcheck.Snapshot()
			b, c := svc.start(t, l.a, l.target)
			select {
			case <-l.held:
			case <-time.After(10 * time.Second):
				t.Fatal("the target never saw the connection")
			}
			l.c.Close() // the peer's host is gone: no ACK, no RST, nothing
			fillUntilBlocked(t, c)
			waitRelaysGone(t, b, snapshot, 10*time.Second)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Error("the client's connection is still open")
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Error("the client's connection is still open")
			}
		})
	}
}

// The netstack device is the tunnel side the services run on in wgu.
var _ Network = (*netstackx.Device)(nil)
