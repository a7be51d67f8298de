package services

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Attacks by a client that has not authenticated: whatever it sends, the proxy reads a bounded number of bytes in
// a bounded time, and allocates accordingly.

// countingListener counts the bytes the service reads from all its clients.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.read}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return errors.New("cannot half-close")
}

// totalAlloc is the process's cumulative heap allocation: an upper bound on how much the heap grew in between.
func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// rssKiB is the process's resident set size from /proc (0 where there is none).
func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var n int64
			for _, r := range strings.TrimSpace(v) {
				if r < '0' || r > '9' {
					break
				}
				n = n*10 + int64(r-'0')
			}
			return n
		}
	}
	return 0
}

// floodWriter writes prefix and then n filler bytes to c, in a goroutine, without holding them all in memory; it
// stops at the first write error (the server gave up on the client).
func floodWriter(c net.Conn, prefix string, n int64, suffix string) <-chan int64 {
	sent := make(chan int64, 1)
	go func() {
		total := int64(0)
		defer func() { sent <- total }()
		w, err := io.WriteString(c, prefix)
		total += int64(w)
		if err != nil {
			return
		}
		chunk := bytes.Repeat([]byte{'a'}, 64<<10)
		for left := n; left > 0; {
			b := chunk
			if int64(len(b)) > left {
				b = b[:left]
			}
			w, err := c.Write(b)
			total += int64(w)
			left -= int64(w)
			if err != nil {
				return
			}
		}
		w, _ = io.WriteString(c, suffix)
		total += int64(w)
	}()
	return sent
}

const hugeHeader = 256 << 20

func TestHTTPProxyHugeHeaderIsRefused(t *testing.T) {
	checkNoGoroutineLeak(t)
	cl := &countingListener{Listener: listenTCP(t)}
	p := NewHTTPProxy(cl, HostNetwork{}, NewResolver(HostNetwork{}, nil), "alice", "pw", nil)
	startService(t, p)

	runtime.GC()
	allocBefore, rssBefore := totalAlloc(), rssKiB()
	c := dialTCP(t, p.Addr().String())
	c.SetDeadline(time.Now().Add(60 * time.Second))
	sent := floodWriter(c, "GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-Big: ", hugeHeader, "\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response to a %d MiB header: %v", hugeHeader>>20, err)
	}
	resp.Body.Close()
	c.Close()
	n := <-sent
	grew, rssGrew := totalAlloc()-allocBefore, rssKiB()-rssBefore
	t.Logf("client sent %d KiB; proxy read %d KiB; heap allocations %d KiB; RSS grew %d KiB",
		n>>10, cl.read.Load()>>10, grew>>10, rssGrew)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want %d", resp.StatusCode, http.StatusRequestHeaderFieldsTooLarge)
	}
	if r := cl.read.Load(); r > 2<<20 {
		t.Errorf("the proxy read %d KiB of an unauthenticated header; want at most 2 MiB", r>>10)
	}
	if grew > 8<<20 {
		t.Errorf("the process allocated %d MiB while refusing the header; want at most 8 MiB", grew>>20)
	}
}

// An unauthenticated client may not hold a connection by trickling its header or its body: the header deadline
// covers both, until the client has authenticated.
func TestHTTPProxySlowClientBeforeAuth(t *testing.T) {
	tests := []struct {
		name, head string
	}{
		{"header", "GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"},
		{"body", "POST http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Length: 100000000\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoGoroutineLeak(t)
			p := NewHTTPProxy(listenTCP(t), HostNetwork{}, NewResolver(HostNetwork{}, nil), "alice", "pw", nil)
			p.base.handshakeTimeout = 500 * time.Millisecond
			startService(t, p)
			c := dialTCP(t, p.Addr().String())
			checkTrickleCut(t, c, tt.head, "X-A: b\r\n")
		})
	}
}

// checkTrickleCut sends head, then line every 50 ms, and checks the server closes the connection within a few
// seconds (its deadline is shorter) although the client never stops.
func checkTrickleCut(t *testing.T, c net.Conn, head, line string) {
	t.Helper()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		io.Copy(io.Discard, c) // a 407/400 may come first; then EOF or a reset
	}()
	start := time.Now()
	for {
		select {
		case <-closed:
			t.Logf("closed after %v", time.Since(start).Round(time.Millisecond))
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("a trickling unauthenticated client still holds its connection after 10 s")
		}
		if _, err := io.WriteString(c, line); err != nil {
			<-closed
			return
		}
	}
}

// SOCKS5 reads at most 2+255 (greeting), 2+255+1+255 (RFC 1929) bytes before it knows who the client is, and
// whatever follows a failed authentication is never read.
func TestSOCKS5PreAuthReadIsBounded(t *testing.T) {
	checkNoGoroutineLeak(t)
	cl := &countingListener{Listener: listenTCP(t)}
	s := NewSOCKS5(cl, HostNetwork{}, NewResolver(HostNetwork{}, nil), "alice", "pw", nil)
	startService(t, s)

	runtime.GC()
	allocBefore := totalAlloc()
	c := dialTCP(t, s.Addr().String())
	c.SetDeadline(time.Now().Add(60 * time.Second))
	greeting := append([]byte{socksVersion, 255}, bytes.Repeat([]byte{socksMethodUserPass}, 255)...)
	if _, err := c.Write(greeting); err != nil {
		t.Fatal(err)
	}
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil || m != [2]byte{socksVersion, socksMethodUserPass} {
		t.Fatalf("method reply %v, %v", m, err)
	}
	auth := append([]byte{socksAuthVersion, 255}, bytes.Repeat([]byte{'u'}, 255)...)
	auth = append(append(auth, 255), bytes.Repeat([]byte{'p'}, 255)...)
	sent := floodWriter(c, string(auth), 64<<20, "")
	var status [2]byte
	if _, err := io.ReadFull(c, status[:]); err != nil || status != [2]byte{socksAuthVersion, 1} {
		t.Fatalf("auth status %v, %v (want failure)", status, err)
	}
	c.Close()
	<-sent
	const most = 2 + 255 + 2 + 255 + 1 + 255
	if r := cl.read.Load(); r > most {
		t.Errorf("the server read %d bytes before refusing the client; want at most %d", r, most)
	}
	if grew := totalAlloc() - allocBefore; grew > 8<<20 {
		t.Errorf("the process allocated %d MiB; want at most 8 MiB", grew>>20)
	}
}

func TestSOCKS5SlowClientBeforeAuth(t *testing.T) {
	checkNoGoroutineLeak(t)
	s := NewSOCKS5(listenTCP(t), HostNetwork{}, NewResolver(HostNetwork{}, nil), "alice", "pw", nil)
	s.base.handshakeTimeout = 500 * time.Millisecond
	startService(t, s)
	c := dialTCP(t, s.Addr().String())
	// A greeting announcing 255 methods, sent one byte at a time.
	checkTrickleCut(t, c, string([]byte{socksVersion, 255}), string([]byte{socksMethodUserPass}))
}
