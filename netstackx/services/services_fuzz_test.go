package services

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// refusingNetwork fails every dial and listen at once, so fuzzed requests never leave the process.
type refusingNetwork struct{}

var errRefusedForFuzz = errors.New("connection refused (fuzz network)")

func (refusingNetwork) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errRefusedForFuzz
}
func (refusingNetwork) Listen(string, string) (net.Listener, error) { return nil, errRefusedForFuzz }
func (refusingNetwork) ListenPacket(string, string) (net.PacketConn, error) {
	return nil, errRefusedForFuzz
}

// scriptConn is a net.Conn that reads a fixed input and swallows writes.
type scriptConn struct {
	r   *bytes.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return c.out.Write(b) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1080}
}
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzListener is never served; the services only need it for Addr.
type fuzzListener struct{}

func (fuzzListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (fuzzListener) Close() error              { return nil }
func (fuzzListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1080} }

func FuzzSOCKS5Request(f *testing.F) {
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80})
	f.Add([]byte{5, 1, 2, 1, 5, 'a', 'l', 'i', 'c', 'e', 2, 'p', 'w', 5, 1, 0, 3, 4, 'a', '.', 'b', 'c', 1, 187})
	f.Add([]byte{5, 2, 0, 2, 5, 3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 53})
	f.Add([]byte{5, 1, 0, 5, 2, 0, 9})
	f.Add([]byte{0, 0, 0, 1, 10, 0, 0, 1, 0, 53, 'h', 'i'})
	res := newResolverAddrPorts(refusingNetwork{}, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53")})
	plain := NewSOCKS5(fuzzListener{}, refusingNetwork{}, res, "", "", nil)
	authed := NewSOCKS5(fuzzListener{}, refusingNetwork{}, res, "alice", "pw", nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		// The parsers on their own...
		readSOCKSRequest(bytes.NewReader(in))
		readSOCKSGreeting(bytes.NewReader(in))
		readSOCKSUserPass(bytes.NewReader(in))
		if host, _, payload, err := parseSOCKSDatagram(in); err == nil && len(payload) > len(in) {
			t.Fatalf("payload longer than the datagram (host %q)", host)
		}
		// ...and whole connections. UDP ASSOCIATE is left out: it opens a real socket.
		for _, s := range []*SOCKS5{plain, authed} {
			req, err := s.handshake(&scriptConn{r: bytes.NewReader(in)})
			if err == nil && req.cmd == socksCmdConnect {
				s.handle(&scriptConn{r: bytes.NewReader(in)})
			}
		}
	})
}

func FuzzHTTPProxyRequest(f *testing.F) {
	f.Add([]byte("CONNECT 10.0.0.1:443 HTTP/1.1\r\nHost: 10.0.0.1:443\r\n\r\n"))
	f.Add([]byte("GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n"))
	f.Add([]byte("POST http://10.0.0.2/x HTTP/1.1\r\nContent-Length: 3\r\nProxy-Authorization: Basic YWxpY2U6cHc=\r\n\r\nabc"))
	f.Add([]byte("GET /origin-form HTTP/1.0\r\n\r\n"))
	f.Add([]byte("CONNECT [::1]:22 HTTP/1.1\r\nProxy-Authorization: Basic !!!\r\n\r\n"))
	// Past the header limit (maxRequestHeaderBytes): refused with 431 before anything is parsed further.
	f.Add([]byte("GET http://10.0.0.2/ HTTP/1.1\r\nX-Big: " + strings.Repeat("a", maxRequestHeaderBytes+1) + "\r\n\r\n"))
	res := newResolverAddrPorts(refusingNetwork{}, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53")})
	plain := NewHTTPProxy(fuzzListener{}, refusingNetwork{}, res, "", "", nil)
	authed := NewHTTPProxy(fuzzListener{}, refusingNetwork{}, res, "alice", "pw", nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, p := range []*HTTPProxy{plain, authed} {
			p.handle(&scriptConn{r: bytes.NewReader(in)})
		}
		removeHopByHop(map[string][]string{"Connection": {string(in)}, string(in): {"x"}})
	})
}
