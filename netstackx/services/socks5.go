package services

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// SOCKS protocol constants from RFC 1928 (SOCKS5) and RFC 1929 (username/password authentication).
const (
	socksVersion        = 0x05
	socksAuthVersion    = 0x01
	socksMethodNoAuth   = 0x00
	socksMethodUserPass = 0x02
	socksMethodNone     = 0xFF

	socksCmdConnect      = 0x01
	socksCmdBind         = 0x02
	socksCmdUDPAssociate = 0x03

	socksAtypIPv4   = 0x01
	socksAtypDomain = 0x03
	socksAtypIPv6   = 0x04

	socksRepSucceeded          = 0x00
	socksRepGeneralFailure     = 0x01
	socksRepNetworkUnreachable = 0x03
	socksRepHostUnreachable    = 0x04
	socksRepConnectionRefused  = 0x05
	socksRepCmdNotSupported    = 0x07
	socksRepAtypNotSupported   = 0x08
)

// maxUDPAssociateDestinations caps the tunnel-side sockets one UDP association may open, so a client cannot
// exhaust the stack's ports.
const maxUDPAssociateDestinations = 256

// DefaultMaxUDPAssociations is how many UDP associations one SOCKS5 service keeps at once unless told otherwise;
// each holds a host socket and up to maxUDPAssociateDestinations tunnel sockets.
const DefaultMaxUDPAssociations = 64

// SOCKS5 is a SOCKS5 server (RFC 1928, with RFC 1929 username/password when configured): CONNECT and UDP ASSOCIATE
// into the tunnel; domain names are resolved with the Resolver, inside the tunnel.
type SOCKS5 struct {
	base     serviceBase
	ln       net.Listener
	net      Network
	res      *Resolver
	username string
	password string

	assocMu  sync.Mutex
	assocs   int // UDP associations open now
	maxAssoc int
}

// NewSOCKS5 serves SOCKS5 on ln, connecting inside n. With a non-empty username or password, clients must
// authenticate with them.
func NewSOCKS5(ln net.Listener, n Network, res *Resolver, username, password string, log *slog.Logger) *SOCKS5 {
	s := &SOCKS5{ln: ln, net: n, res: res, username: username, password: password, maxAssoc: DefaultMaxUDPAssociations}
	s.base.init(log, "service", "socks5", "listen", ln.Addr().String())
	return s
}

// Serve accepts SOCKS clients until ctx is done or Close is called.
func (s *SOCKS5) Serve(ctx context.Context) error {
	return s.base.serveConns(ctx, s.ln, s.handle)
}

// Close stops the listener, every proxied connection and UDP association, and waits for them.
func (s *SOCKS5) Close() error { return s.base.shutdown(s.ln) }

// Addr is the address the server listens on.
func (s *SOCKS5) Addr() net.Addr { return s.ln.Addr() }

// SetMaxConnections caps the clients served at once (DefaultMaxConnections when n <= 0); past it new clients are
// refused and the connected ones carry on. Call it before Serve.
func (s *SOCKS5) SetMaxConnections(n int) { s.base.setMaxConnections(n) }

// SetMaxUDPAssociations caps the UDP associations open at once (DefaultMaxUDPAssociations when n <= 0); past it a
// UDP ASSOCIATE request gets a failure reply. Call it before Serve.
func (s *SOCKS5) SetMaxUDPAssociations(n int) {
	if n > 0 {
		s.maxAssoc = n
	}
}

// takeAssociation reserves a UDP association slot; the caller gives it back with releaseAssociation.
func (s *SOCKS5) takeAssociation() bool {
	s.assocMu.Lock()
	defer s.assocMu.Unlock()
	if s.assocs >= s.maxAssoc {
		return false
	}
	s.assocs++
	return true
}

func (s *SOCKS5) releaseAssociation() {
	s.assocMu.Lock()
	s.assocs--
	s.assocMu.Unlock()
}

// socksRequest is a parsed SOCKS5 request: command and destination (an IP literal or a domain name).
type socksRequest struct {
	cmd  byte
	host string
	port uint16
}

func (r socksRequest) hostPort() string { return net.JoinHostPort(r.host, strconv.Itoa(int(r.port))) }

// socksReplyError is a request the server refuses with a specific reply code.
type socksReplyError struct {
	code byte
	msg  string
}

func (e *socksReplyError) Error() string { return e.msg }

// readSOCKSGreeting reads the client's version/methods message and returns the offered methods.
func readSOCKSGreeting(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read greeting: %w", err)
	}
	if hdr[0] != socksVersion {
		return nil, fmt.Errorf("unsupported SOCKS version %d", hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(r, methods); err != nil {
		return nil, fmt.Errorf("read methods: %w", err)
	}
	return methods, nil
}

// readSOCKSUserPass reads an RFC 1929 username/password request.
func readSOCKSUserPass(r io.Reader) (user, pass string, err error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", "", fmt.Errorf("read auth: %w", err)
	}
	if hdr[0] != socksAuthVersion {
		return "", "", fmt.Errorf("unsupported auth version %d", hdr[0])
	}
	u := make([]byte, hdr[1])
	if _, err := io.ReadFull(r, u); err != nil {
		return "", "", fmt.Errorf("read username: %w", err)
	}
	var plen [1]byte
	if _, err := io.ReadFull(r, plen[:]); err != nil {
		return "", "", fmt.Errorf("read password: %w", err)
	}
	p := make([]byte, plen[0])
	if _, err := io.ReadFull(r, p); err != nil {
		return "", "", fmt.Errorf("read password: %w", err)
	}
	return string(u), string(p), nil
}

// readSOCKSRequest reads a request (VER CMD RSV ATYP DST.ADDR DST.PORT). Requests the server must answer with a
// failure code come back as *socksReplyError.
func readSOCKSRequest(r io.Reader) (socksRequest, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return socksRequest{}, fmt.Errorf("read request: %w", err)
	}
	if hdr[0] != socksVersion {
		return socksRequest{}, fmt.Errorf("unsupported SOCKS version %d in request", hdr[0])
	}
	host, port, err := readSOCKSAddr(r)
	if err != nil {
		return socksRequest{}, err
	}
	return socksRequest{cmd: hdr[1], host: host, port: port}, nil
}

// readSOCKSAddr reads ATYP DST.ADDR DST.PORT.
func readSOCKSAddr(r io.Reader) (host string, port uint16, err error) {
	var atyp [1]byte
	if _, err := io.ReadFull(r, atyp[:]); err != nil {
		return "", 0, fmt.Errorf("read address type: %w", err)
	}
	switch atyp[0] {
	case socksAtypIPv4:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", 0, fmt.Errorf("read IPv4 address: %w", err)
		}
		host = netip.AddrFrom4(b).String()
	case socksAtypIPv6:
		var b [16]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", 0, fmt.Errorf("read IPv6 address: %w", err)
		}
		host = netip.AddrFrom16(b).String()
	case socksAtypDomain:
		var l [1]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return "", 0, fmt.Errorf("read domain length: %w", err)
		}
		if l[0] == 0 {
			return "", 0, &socksReplyError{code: socksRepHostUnreachable, msg: "empty domain name"}
		}
		b := make([]byte, l[0])
		if _, err := io.ReadFull(r, b); err != nil {
			return "", 0, fmt.Errorf("read domain: %w", err)
		}
		host = string(b)
	default:
		return "", 0, &socksReplyError{code: socksRepAtypNotSupported, msg: fmt.Sprintf("address type %d not supported", atyp[0])}
	}
	var p [2]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return "", 0, fmt.Errorf("read port: %w", err)
	}
	return host, binary.BigEndian.Uint16(p[:]), nil
}

// appendSOCKSAddr appends ATYP ADDR PORT for addr (a *net.TCPAddr or *net.UDPAddr; anything else is 0.0.0.0:0).
func appendSOCKSAddr(b []byte, addr net.Addr) []byte {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		if addr != nil {
			ap, _ = netip.ParseAddrPort(addr.String())
		}
	}
	ip := ap.Addr().Unmap()
	switch {
	case ip.Is4():
		b = append(b, socksAtypIPv4)
		b = append(b, ip.AsSlice()...)
	case ip.Is6():
		b = append(b, socksAtypIPv6)
		b = append(b, ip.AsSlice()...)
	default:
		b = append(b, socksAtypIPv4, 0, 0, 0, 0)
	}
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

func writeSOCKSReply(w io.Writer, code byte, bound net.Addr) error {
	_, err := w.Write(appendSOCKSAddr([]byte{socksVersion, code, 0}, bound))
	return err
}

// socksReplyFor turns a dial error into the reply code that tells the client why.
func socksReplyFor(err error) byte {
	switch classifyDialError(err) {
	case dialRefused:
		return socksRepConnectionRefused
	case dialHostUnreachable, dialNotFound:
		return socksRepHostUnreachable
	case dialNetUnreachable:
		return socksRepNetworkUnreachable
	default:
		return socksRepGeneralFailure
	}
}

func (s *SOCKS5) authRequired() bool { return s.username != "" || s.password != "" }

// handshake negotiates the method, authenticates and reads the request. It answers failures itself.
func (s *SOCKS5) handshake(c io.ReadWriter) (socksRequest, error) {
	methods, err := readSOCKSGreeting(c)
	if err != nil {
		return socksRequest{}, err
	}
	want := byte(socksMethodNoAuth)
	if s.authRequired() {
		want = socksMethodUserPass
	}
	if !bytes.Contains(methods, []byte{want}) {
		c.Write([]byte{socksVersion, socksMethodNone})
		return socksRequest{}, errors.New("no acceptable authentication method offered")
	}
	if _, err := c.Write([]byte{socksVersion, want}); err != nil {
		return socksRequest{}, fmt.Errorf("write method: %w", err)
	}
	if want == socksMethodUserPass {
		user, pass, err := readSOCKSUserPass(c)
		if err != nil {
			return socksRequest{}, err
		}
		// Compare both fields in full, always, so timing reveals nothing about which one was wrong.
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.username))
		passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(s.password))
		if userOK&passOK != 1 {
			c.Write([]byte{socksAuthVersion, 0x01})
			return socksRequest{}, fmt.Errorf("authentication failed for user %q", user)
		}
		if _, err := c.Write([]byte{socksAuthVersion, 0x00}); err != nil {
			return socksRequest{}, fmt.Errorf("write auth status: %w", err)
		}
	}
	req, err := readSOCKSRequest(c)
	if err != nil {
		var re *socksReplyError
		if errors.As(err, &re) {
			writeSOCKSReply(c, re.code, nil)
		}
		return socksRequest{}, err
	}
	return req, nil
}

func (s *SOCKS5) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(s.base.handshakeTimeout))
	req, err := s.handshake(c)
	if err != nil {
		s.base.log.Debug("handshake failed", "client", c.RemoteAddr().String(), "err", err)
		return
	}
	c.SetDeadline(time.Time{})
	switch req.cmd {
	case socksCmdConnect:
		s.connect(c, req)
	case socksCmdUDPAssociate:
		s.associate(c, req)
	default:
		writeSOCKSReply(c, socksRepCmdNotSupported, nil)
	}
}

// connect serves CONNECT: dial the destination inside the tunnel and relay.
func (s *SOCKS5) connect(c net.Conn, req socksRequest) {
	ctx, cancel := context.WithTimeout(s.base.ctx, dialTimeout)
	up, err := dialResolved(ctx, s.net, s.res, "tcp", req.host, strconv.Itoa(int(req.port)))
	cancel()
	if err != nil {
		s.base.log.Debug("connect failed", "client", c.RemoteAddr().String(), "target", req.hostPort(), "err", err)
		writeSOCKSReply(c, socksReplyFor(err), nil)
		return
	}
	if !s.base.track(up) {
		return
	}
	defer s.base.untrack(up)
	if err := writeSOCKSReply(c, socksRepSucceeded, up.LocalAddr()); err != nil {
		return
	}
	s.base.relay(c, up)
}

// associate serves UDP ASSOCIATE: a relay socket on the host IP the client reached us on, living as long as the
// control connection.
func (s *SOCKS5) associate(c net.Conn, req socksRequest) {
	if !s.takeAssociation() {
		s.base.log.Warn("UDP associate refused: too many associations", "client", c.RemoteAddr().String(), "max_udp_associations", s.maxAssoc)
		writeSOCKSReply(c, socksRepGeneralFailure, nil)
		return
	}
	defer s.releaseAssociation()
	bindIP := net.IP(nil)
	if ta, ok := s.ln.Addr().(*net.TCPAddr); ok {
		bindIP = ta.IP
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: bindIP})
	if err != nil {
		s.base.log.Warn("UDP associate: cannot open relay socket", "err", err)
		writeSOCKSReply(c, socksRepGeneralFailure, nil)
		return
	}
	if !s.base.track(pc) {
		return
	}
	defer s.base.untrack(pc)
	bound := pc.LocalAddr().(*net.UDPAddr)
	if bound.IP.IsUnspecified() {
		// Tell the client an address it can actually send to: the one it reached the TCP listener on.
		if la, ok := c.LocalAddr().(*net.TCPAddr); ok {
			bound = &net.UDPAddr{IP: la.IP, Port: bound.Port}
		}
	}
	if err := writeSOCKSReply(c, socksRepSucceeded, bound); err != nil {
		return
	}
	clientIP := netip.Addr{}
	if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		clientIP = ra.AddrPort().Addr().Unmap()
	}
	a := &udpAssociation{s: s, pc: pc, clientIP: clientIP, clientPort: req.port, dests: make(map[string]net.Conn)}
	// The association ends when the client closes the control connection (RFC 1928 section 7).
	s.base.spawn(func() {
		io.Copy(io.Discard, c)
		pc.Close()
	})
	a.run()
	c.Close()
}

// udpAssociation relays datagrams between one SOCKS client and the destinations it names, one connected
// tunnel-side socket per destination.
type udpAssociation struct {
	s          *SOCKS5
	pc         *net.UDPConn
	clientIP   netip.Addr
	clientPort uint16 // 0 until known: from the request, else from the first datagram
	client     netip.AddrPort

	mu    sync.Mutex
	dests map[string]net.Conn
}

func (a *udpAssociation) run() {
	defer a.closeDests()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := a.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if a.clientIP.IsValid() && from.Addr() != a.clientIP {
			continue
		}
		if a.clientPort != 0 && from.Port() != a.clientPort {
			continue
		}
		host, port, payload, err := parseSOCKSDatagram(buf[:n])
		if err != nil {
			continue
		}
		if a.clientPort == 0 {
			a.clientPort = from.Port()
		}
		a.client = from
		up := a.dest(host, port)
		if up == nil {
			continue
		}
		up.Write(payload)
	}
}

// parseSOCKSDatagram splits a client datagram (RSV RSV FRAG ATYP DST.ADDR DST.PORT DATA). Fragments (FRAG != 0)
// are refused: fragment reassembly is optional and no client in use sends them.
func parseSOCKSDatagram(b []byte) (host string, port uint16, payload []byte, err error) {
	if len(b) < 4 {
		return "", 0, nil, errors.New("short datagram")
	}
	if b[2] != 0 {
		return "", 0, nil, errors.New("fragmented datagram")
	}
	r := bytes.NewReader(b[3:])
	host, port, err = readSOCKSAddr(r)
	if err != nil {
		return "", 0, nil, err
	}
	return host, port, b[len(b)-r.Len():], nil
}

// dest returns the tunnel-side socket for host:port, opening it (and its reader) the first time.
func (a *udpAssociation) dest(host string, port uint16) net.Conn {
	key := net.JoinHostPort(host, strconv.Itoa(int(port)))
	a.mu.Lock()
	up, ok := a.dests[key]
	n := len(a.dests)
	a.mu.Unlock()
	if ok {
		return up
	}
	if n >= maxUDPAssociateDestinations {
		return nil
	}
	ctx, cancel := context.WithTimeout(a.s.base.ctx, dialTimeout)
	up, err := dialResolved(ctx, a.s.net, a.s.res, "udp", host, strconv.Itoa(int(port)))
	cancel()
	if err != nil {
		a.s.base.log.Debug("UDP associate: dial failed", "target", key, "err", err)
		return nil
	}
	if !a.s.base.track(up) {
		return nil
	}
	a.mu.Lock()
	a.dests[key] = up
	a.mu.Unlock()
	client := a.client
	if !a.s.base.spawn(func() { a.readDest(up, client) }) {
		a.s.base.untrack(up)
		return nil
	}
	return up
}

// readDest sends what a destination answers back to the client, prefixed with the destination's address.
func (a *udpAssociation) readDest(up net.Conn, client netip.AddrPort) {
	buf := make([]byte, 64<<10)
	hdr := appendSOCKSAddr([]byte{0, 0, 0}, up.RemoteAddr())
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		out := append(append(make([]byte, 0, len(hdr)+n), hdr...), buf[:n]...)
		if _, err := a.pc.WriteToUDPAddrPort(out, client); err != nil {
			return
		}
	}
}

func (a *udpAssociation) closeDests() {
	a.mu.Lock()
	dests := a.dests
	a.dests = nil
	a.mu.Unlock()
	for _, up := range dests {
		a.s.base.untrack(up)
	}
}
