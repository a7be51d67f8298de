package services

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// HTTPProxy is an HTTP proxy into the tunnel: CONNECT tunnels, and plain requests with an absolute URI forwarded
// with hop-by-hop headers removed. With a username or password set, clients must send matching Basic
// Proxy-Authorization, else they get 407.
type HTTPProxy struct {
	base      serviceBase
	ln        net.Listener
	net       Network
	res       *Resolver
	username  string
	password  string
	transport *http.Transport
}

// NewHTTPProxy serves an HTTP proxy on ln, connecting inside n and resolving names with res.
func NewHTTPProxy(ln net.Listener, n Network, res *Resolver, username, password string, log *slog.Logger) *HTTPProxy {
	p := &HTTPProxy{ln: ln, net: n, res: res, username: username, password: password}
	p.base.init(log, "service", "http-proxy", "listen", ln.Addr().String())
	p.base.refuse = func(c net.Conn) { writeStatus(c, http.StatusServiceUnavailable, nil) }
	p.transport = &http.Transport{
		Proxy:                 nil, // never chain to the host's proxy settings: everything goes into the tunnel
		DialContext:           p.dialUpstream,
		DisableCompression:    true, // pass bodies through as the origin encoded them
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	return p
}

// Serve accepts proxy clients until ctx is done or Close is called.
func (p *HTTPProxy) Serve(ctx context.Context) error {
	return p.base.serveConns(ctx, p.ln, p.handle)
}

// Close stops the listener and every proxied connection, and waits for them.
func (p *HTTPProxy) Close() error {
	err := p.base.shutdown(p.ln)
	p.transport.CloseIdleConnections()
	return err
}

// Addr is the address the proxy listens on.
func (p *HTTPProxy) Addr() net.Addr { return p.ln.Addr() }

// SetMaxConnections caps the clients served at once (DefaultMaxConnections when n <= 0); past it new clients are
// refused and the connected ones carry on. Call it before Serve.
func (p *HTTPProxy) SetMaxConnections(n int) { p.base.setMaxConnections(n) }

func (p *HTTPProxy) dialUpstream(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("bad upstream address %q: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := dialResolved(ctx, p.net, p.res, network, host, port)
	if err != nil {
		return nil, err
	}
	if !p.base.track(c) {
		return nil, net.ErrClosed
	}
	return &untrackOnClose{Conn: c, base: &p.base}, nil
}

// untrackOnClose forgets a tracked upstream connection when the transport closes it.
type untrackOnClose struct {
	net.Conn
	base *serviceBase
}

func (c *untrackOnClose) Close() error {
	c.base.mu.Lock()
	delete(c.base.closers, c.Conn)
	c.base.mu.Unlock()
	return c.Conn.Close()
}

// hopByHopHeaders are meaningful for one connection only (RFC 9110 section 7.6.1) and never forwarded.
var hopByHopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopByHop deletes hop-by-hop headers, including those the Connection header names.
func removeHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHopHeaders {
		h.Del(name)
	}
}

// authorized checks Basic Proxy-Authorization against the configured credentials.
func (p *HTTPProxy) authorized(req *http.Request) bool {
	if p.username == "" && p.password == "" {
		return true
	}
	scheme, cred, ok := strings.Cut(req.Header.Get("Proxy-Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return false
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(p.username))
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(p.password))
	return userOK&passOK == 1
}

// writeStatus sends a short response with an empty body; the connection is closed after it.
func writeStatus(w io.Writer, code int, extra http.Header) error {
	resp := &http.Response{
		StatusCode:    code,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{},
		ContentLength: 0,
		Close:         true,
	}
	for k, v := range extra {
		resp.Header[k] = v
	}
	return resp.Write(w)
}

// statusForDialError picks the gateway status telling the client why the tunnel side failed.
func statusForDialError(err error) int {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// maxRequestHeaderBytes bounds a request line plus its headers. Nothing is read from an unauthenticated client
// without a bound: this, the header deadline, and a bounded drain of a refused request's body.
const maxRequestHeaderBytes = 64 << 10

// maxRefusedBodyBytes is how much of a refused request's body is read (and dropped) so the 407 reaches the client.
const maxRefusedBodyBytes = 64 << 10

func (p *HTTPProxy) handle(c net.Conn) {
	// bufio reads ahead, so the limit also covers one buffer's worth of whatever follows the headers.
	lr := &readLimiter{r: c}
	br := bufio.NewReader(lr)
	for {
		lr.limit(maxRequestHeaderBytes + int64(br.Size()))
		c.SetReadDeadline(time.Now().Add(p.base.handshakeTimeout))
		req, err := http.ReadRequest(br)
		if err != nil {
			if lr.exhausted() {
				p.base.log.Debug("request header too large", "client", c.RemoteAddr().String(), "limit", maxRequestHeaderBytes)
				writeStatus(c, http.StatusRequestHeaderFieldsTooLarge, nil)
				lingerClose(c)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				var ne net.Error
				if !errors.As(err, &ne) {
					writeStatus(c, http.StatusBadRequest, nil)
				}
			}
			return
		}
		lr.unlimit()
		if !p.serveRequest(c, br, req) {
			return
		}
	}
}

// serveRequest answers one request; it reports whether the client connection may carry another. The header read
// deadline is still set on c: it is lifted only for an authorized client.
func (p *HTTPProxy) serveRequest(c net.Conn, br *bufio.Reader, req *http.Request) bool {
	if !p.authorized(req) {
		io.Copy(io.Discard, io.LimitReader(req.Body, maxRefusedBodyBytes))
		writeStatus(c, http.StatusProxyAuthRequired, http.Header{"Proxy-Authenticate": {`Basic realm="wgu"`}})
		return false
	}
	c.SetReadDeadline(time.Time{})
	if req.Method == http.MethodConnect {
		p.connect(c, br, req)
		return false
	}
	return p.forward(c, req)
}

// connect opens a tunnel to the request's host:port and relays bytes both ways.
func (p *HTTPProxy) connect(c net.Conn, br *bufio.Reader, req *http.Request) {
	host, port, err := net.SplitHostPort(req.Host)
	if err != nil || host == "" || port == "" {
		writeStatus(c, http.StatusBadRequest, nil)
		return
	}
	up, err := p.dialUpstream(p.base.ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		p.base.log.Debug("CONNECT failed", "client", c.RemoteAddr().String(), "target", req.Host, "err", err)
		writeStatus(c, statusForDialError(err), nil)
		return
	}
	defer up.Close()
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	// Bytes the client sent right after its request (pipelined TLS hello) are already in br.
	if n := br.Buffered(); n > 0 {
		buffered, _ := br.Peek(n)
		if _, err := up.Write(buffered); err != nil {
			return
		}
	}
	p.base.relay(c, up.(*untrackOnClose).Conn)
}

// forward sends a plain proxy request upstream and copies the response back.
func (p *HTTPProxy) forward(c net.Conn, req *http.Request) bool {
	if req.URL == nil || req.URL.Host == "" || !req.URL.IsAbs() {
		writeStatus(c, http.StatusBadRequest, nil)
		return false
	}
	if req.URL.Scheme != "http" {
		writeStatus(c, http.StatusBadRequest, nil)
		return false
	}
	keepAlive := !req.Close
	out := req.Clone(p.base.ctx)
	out.RequestURI = ""
	out.Close = false
	removeHopByHop(out.Header)
	if strings.EqualFold(out.Header.Get("Expect"), "100-continue") {
		// Let the client send its body now rather than after its own wait; the upstream gets it without asking.
		out.Header.Del("Expect")
		if _, err := io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return false
		}
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header.Set("User-Agent", "") // keep Go's transport from adding its own
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		p.base.log.Debug("request failed", "client", c.RemoteAddr().String(), "url", req.URL.Redacted(), "err", err)
		writeStatus(c, statusForDialError(err), nil)
		return false
	}
	defer resp.Body.Close()
	removeHopByHop(resp.Header)
	// We speak HTTP/1.1 to the client whatever the origin spoke. A body of unknown length that is not chunked can
	// only be delimited by closing the connection (Response.Write adds "Connection: close" for it on its own).
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	if resp.ContentLength < 0 && !chunked {
		keepAlive = false
	}
	resp.Close = !keepAlive
	if err := resp.Write(c); err != nil {
		return false
	}
	return keepAlive
}

// readLimiter reads from r, up to a limit while one is set; past it, reads fail with io.EOF (so parsers stop), and
// exhausted reports that the limit, not the client, ended the input.
type readLimiter struct {
	r       io.Reader
	limited bool
	left    int64
}

func (l *readLimiter) limit(n int64) { l.limited, l.left = true, n }
func (l *readLimiter) unlimit()      { l.limited = false }
func (l *readLimiter) exhausted() bool {
	return l.limited && l.left <= 0
}

func (l *readLimiter) Read(b []byte) (int, error) {
	if !l.limited {
		return l.r.Read(b)
	}
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	return n, err
}

// lingerClose half-closes c and drops what the client still sends for a moment, so a response written just before
// reaches it instead of being destroyed by the reset that closing with unread input causes. It reads a bounded
// amount in a bounded time.
func lingerClose(c net.Conn) {
	cw, ok := c.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.CopyN(io.Discard, c, 1<<20)
}
