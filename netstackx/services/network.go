package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Network is where services dial and listen "inside the tunnel". The netstack Device implements it; tests use the
// host network (loopback) through HostNetwork.
type Network interface {
	// DialContext connects to address (IP:port) on the named network ("tcp", "udp", ...).
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
	Listen(network, address string) (net.Listener, error)
	ListenPacket(network, address string) (net.PacketConn, error)
}

// HostNetwork implements Network with package net: the host's own stack. Tests use it in place of the tunnel, and
// services use it for their host side.
type HostNetwork struct{}

// DialContext dials address on the host network.
func (HostNetwork) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// Listen listens on the host network.
func (HostNetwork) Listen(network, address string) (net.Listener, error) {
	return net.Listen(network, address)
}

// ListenPacket opens a packet socket on the host network.
func (HostNetwork) ListenPacket(network, address string) (net.PacketConn, error) {
	return net.ListenPacket(network, address)
}

// Service is what every netstack service offers: Serve blocks until ctx is done or Close is called; Close stops
// listeners and open connections and waits for the service's goroutines; Addr is the bound listen address.
type Service interface {
	Serve(ctx context.Context) error
	Close() error
	Addr() net.Addr
}

// relayBufferSize is the copy buffer of one relay direction. Writes into the netstack take a size of their own from
// it (WriteChunk, see netstackx/writechunk.go): plain 64 KiB and 256 KiB writes into gVisor cut a forward's upload from about 2 to about 1.1
// Gbit/s in e2e's BenchmarkRootlessSpoke, as each left a tiny segment behind.
const relayBufferSize = 64 << 10

// bulkRelayBufferSize is the copy buffer a direction that writes to a host socket grows to once a read fills its
// relayBufferSize one: a bulk download. gVisor's Read then drains several queued segments at once and the host socket
// takes one write (and its reader one wake-up) per 256 KiB instead of per 64 KiB. Measured on a download through a
// forward (iperf3 -R to a TUN peer, 3 interleaved 5 s runs on a loaded 2-core machine): the netstack process's CPU
// per GB 3513/4007/3758 -> 2924/3291/3282 ms, throughput higher in every pair (issue 17). Directions that never fill
// a read (interactive ones, idle ones) keep the small buffer, so many open connections do not cost 256 KiB each.
const bulkRelayBufferSize = 256 << 10

// relayWriteStall is how long one write of a relay may make no progress before the relay gives up on the
// connection pair: the receiving side is gone (a vanished client, a tunnel peer that no longer answers) or will
// never read again. Without it a relay whose destination stopped reading blocks in Write for good, holding both
// connections, and the source side's own close is never seen (issue 18: 13 minutes in gonet.TCPConn.Write).
const relayWriteStall = 2 * time.Minute

// handshakeTimeout bounds how long a proxy client may take to send its request before we give up on it.
const handshakeTimeout = 30 * time.Second

// DefaultMaxConnections is how many clients a TCP service (forward, expose, SOCKS5, HTTP proxy) serves at once
// unless told otherwise: past it, new clients are refused so that a flood cannot exhaust descriptors or memory,
// while the clients already connected carry on.
const DefaultMaxConnections = 1024

// serviceBase holds what all services share: a lifetime context cancelled on Close, the set of open connections
// to close on shutdown, the goroutines to wait for, and a pool of relay buffers.
type serviceBase struct {
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	closers map[io.Closer]struct{}
	wg      sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	buffers sync.Pool
	// bulkBuffers holds bulkRelayBufferSize buffers (see there).
	bulkBuffers sync.Pool

	// writeStall is relayWriteStall; tests shorten it.
	writeStall time.Duration

	// maxConns caps the clients served at once (DefaultMaxConnections unless set); refuse, if set, tells a client
	// over the cap why it is turned away before it is closed.
	maxConns int
	refuse   func(net.Conn)

	// handshakeTimeout bounds a client's handshake or request header (handshakeTimeout by default; tests shorten it).
	handshakeTimeout time.Duration
}

// init prepares the base; log may be nil (no logging), attrs name the service in every log line.
func (b *serviceBase) init(log *slog.Logger, attrs ...any) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b.log = log.With(attrs...)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.closers = make(map[io.Closer]struct{})
	b.writeStall = relayWriteStall
	b.handshakeTimeout = handshakeTimeout
	b.maxConns = DefaultMaxConnections
	b.buffers.New = func() any {
		buf := make([]byte, relayBufferSize)
		return &buf
	}
	b.bulkBuffers.New = func() any {
		buf := make([]byte, bulkRelayBufferSize)
		return &buf
	}
}

// track registers c to be closed on shutdown. It reports false (and closes c) when the service is already closed.
func (b *serviceBase) track(c io.Closer) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		c.Close()
		return false
	}
	b.closers[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (b *serviceBase) untrack(c io.Closer) {
	b.mu.Lock()
	delete(b.closers, c)
	b.mu.Unlock()
	c.Close()
}

// spawn runs f in a goroutine that Close waits for. It reports false, without running f, once closed.
func (b *serviceBase) spawn(f func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
	return true
}

// isClosed reports whether shutdown has begun.
func (b *serviceBase) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// shutdown closes the listener (or packet socket) and all tracked connections, then waits for every spawned
// goroutine. It is idempotent; concurrent callers all wait for the first to finish.
func (b *serviceBase) shutdown(listener io.Closer) error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		closers := b.closers
		b.closers = nil
		b.mu.Unlock()

		b.cancel()
		if err := listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			b.closeErr = fmt.Errorf("close listener: %w", err)
		}
		for c := range closers {
			c.Close()
		}
		b.wg.Wait()
	})
	return b.closeErr
}

// serveConns accepts connections from ln and runs handle for each in a tracked goroutine, with the connection
// closed when handle returns. It returns when ctx is done or the service is closed, after shutting down.
func (b *serviceBase) serveConns(ctx context.Context, ln net.Listener, handle func(net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { b.shutdown(ln) })
	defer stop()
	slots := make(chan struct{}, b.maxConns)
	var lastWarn time.Time
	var serveErr error
	for {
		c, err := ln.Accept()
		if err != nil {
			if b.isClosed() || ctx.Err() != nil {
				break
			}
			if acceptRetryable(err) {
				// Out of descriptors or a connection reset before we took it: wait and carry on, as net/http does.
				b.log.Warn("accept failed, retrying", "err", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			serveErr = fmt.Errorf("accept on %s: %w", ln.Addr(), err)
			break
		}
		select {
		case slots <- struct{}{}:
		default:
			if time.Since(lastWarn) > 10*time.Second {
				// At most one line per 10 s: a flood must not flood the log as well.
				b.log.Warn("connection limit reached, refusing new clients", "max_connections", b.maxConns)
				lastWarn = time.Now()
			}
			b.refuseConn(c)
			continue
		}
		if !b.track(c) {
			<-slots
			break
		}
		if !b.spawn(func() {
			defer func() { <-slots }()
			defer b.untrack(c)
			handle(c)
		}) {
			<-slots
			b.untrack(c)
			break
		}
	}
	if err := b.shutdown(ln); err != nil && serveErr == nil {
		serveErr = err
	}
	return serveErr
}

// refuseConn turns away a client over the connection cap: a short answer where the protocol has one, then close.
// The answer's write has a short deadline so a client cannot stall the accept loop.
func (b *serviceBase) refuseConn(c net.Conn) {
	b.log.Debug("refused: too many connections", "client", c.RemoteAddr().String())
	if b.refuse != nil {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		b.refuse(c)
	}
	c.Close()
}

// setMaxConnections sets the cap on clients served at once; n <= 0 keeps the default. Call it before Serve.
func (b *serviceBase) setMaxConnections(n int) {
	if n > 0 {
		b.maxConns = n
	}
}

// acceptRetryable reports whether an Accept error is transient, not a dead listener.
func acceptRetryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED)
}

// closeWriter is a connection that can half-close: TCP on the host and on gVisor's gonet.
type closeWriter interface {
	CloseWrite() error
}

// relay copies a→b and b→a until both directions end. A direction that ends cleanly half-closes its destination
// (when it can) so the peer sees EOF while the other direction keeps flowing; a direction that fails closes both
// so the other direction unblocks. Both connections are closed on return.
func (b *serviceBase) relay(x, y net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.pipe(y, x)
	}()
	b.pipe(x, y)
	<-done
	x.Close()
	y.Close()
}

// pipe copies src into dst; see relay. Every write must make progress within writeStall, else the direction
// fails and both connections close.
func (b *serviceBase) pipe(dst, src net.Conn) {
	bufp := b.buffers.Get().(*[]byte)
	buf := *bufp
	var err error
	if c, ok := dst.(interface{ WriteChunk() int }); ok && c.WriteChunk() > 0 {
		buf = buf[:min(len(buf), c.WriteChunk())]
		// Hide net.TCPConn's ReadFrom/WriteTo: they would copy through io.Copy's
		// own 32 KiB buffer instead of ours.
		_, err = io.CopyBuffer(stallWriter{dst, b.writeStall}, struct{ io.Reader }{src}, buf)
	} else {
		err = b.copyGrowing(stallWriter{dst, b.writeStall}, src, buf)
	}
	b.buffers.Put(bufp)
	if err == nil {
		if cw, ok := dst.(closeWriter); ok && cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
	src.Close()
}

// copyGrowing copies src into w as io.CopyBuffer does, starting with buf and moving to a bulkRelayBufferSize
// buffer once a read fills buf (see bulkRelayBufferSize).
func (b *serviceBase) copyGrowing(w io.Writer, src io.Reader, buf []byte) error {
	var bulk *[]byte
	defer func() {
		if bulk != nil {
			b.bulkBuffers.Put(bulk)
		}
	}()
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			wn, werr := w.Write(buf[:n])
			if werr != nil {
				return werr
			}
			if wn != n {
				return io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
		if n == len(buf) && bulk == nil && len(buf) < bulkRelayBufferSize {
			bulk = b.bulkBuffers.Get().(*[]byte)
			buf = *bulk
		}
	}
}

// stallWriter writes to a connection with a fresh write deadline for every write, so a destination that stops
// taking data fails the write after stall instead of blocking it forever.
type stallWriter struct {
	c     net.Conn
	stall time.Duration
}

func (w stallWriter) Write(p []byte) (int, error) {
	if w.stall > 0 {
		w.c.SetWriteDeadline(time.Now().Add(w.stall))
	}
	return w.c.Write(p)
}

// dialErrorKind classifies a dial error, for proxies that must tell their client why a connection failed.
type dialErrorKind int

const (
	dialFailed dialErrorKind = iota
	dialRefused
	dialHostUnreachable
	dialNetUnreachable
	dialNotFound
)

// classifyDialError maps errors from the host stack (errnos) and from gVisor (text only) to a dialErrorKind.
func classifyDialError(err error) dialErrorKind {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return dialNotFound
	case errors.Is(err, syscall.ECONNREFUSED):
		return dialRefused
	case errors.Is(err, syscall.EHOSTUNREACH):
		return dialHostUnreachable
	case errors.Is(err, syscall.ENETUNREACH):
		return dialNetUnreachable
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection was refused"), strings.Contains(msg, "connection refused"):
		return dialRefused
	case strings.Contains(msg, "no route to host"), strings.Contains(msg, "host is unreachable"):
		return dialHostUnreachable
	case strings.Contains(msg, "network is unreachable"), strings.Contains(msg, "machine is not on the network"):
		return dialNetUnreachable
	case strings.Contains(msg, "timed out"):
		return dialHostUnreachable
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		// Over WireGuard a silent peer shows up as a timeout: the host is as good as unreachable.
		return dialHostUnreachable
	}
	return dialFailed
}

// dialResolved resolves host with res and dials each address in turn on n, returning the first connection made.
func dialResolved(ctx context.Context, n Network, res *Resolver, network, host, port string) (net.Conn, error) {
	addrs, err := res.LookupNetIP(ctx, host)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, a := range addrs {
		c, err := n.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return nil, fmt.Errorf("dial %s: %w", net.JoinHostPort(host, port), lastErr)
}

// Resolving returns n with host names allowed in DialContext: they are
// resolved by res (the config's DNS servers, through the tunnel).
func Resolving(n Network, res *Resolver) Network { return resolvingNetwork{n, res} }

type resolvingNetwork struct {
	Network
	res *Resolver
}

func (r resolvingNetwork) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", address, err)
	}
	return dialResolved(ctx, r.Network, r.res, network, host, port)
}
