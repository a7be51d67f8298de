package services

import (
	"context"
	"log/slog"
	"net"
	"time"
)

// dialTimeout bounds one outgoing connection attempt of a service; a peer that never answers would otherwise hold
// the client for the stack's full SYN retry budget.
const dialTimeout = 30 * time.Second

// TCPForward is wireproxy's [TCPClientTunnel]: connections accepted on a host listener are relayed to Target,
// dialled inside the tunnel.
type TCPForward struct {
	base   serviceBase
	ln     net.Listener
	net    Network
	target string
}

// NewTCPForward relays connections accepted on ln (a host listener) to target (IP:port) dialled on n.
func NewTCPForward(ln net.Listener, n Network, target string, log *slog.Logger) *TCPForward {
	f := &TCPForward{ln: ln, net: n, target: target}
	f.base.init(log, "service", "tcp-forward", "listen", ln.Addr().String(), "target", target)
	return f
}

// Serve accepts and relays connections until ctx is done or Close is called.
func (f *TCPForward) Serve(ctx context.Context) error {
	return f.base.serveConns(ctx, f.ln, f.handle)
}

// Close stops the listener and all relayed connections and waits for them.
func (f *TCPForward) Close() error { return f.base.shutdown(f.ln) }

// Addr is the host address the forward listens on.
func (f *TCPForward) Addr() net.Addr { return f.ln.Addr() }

// SetMaxConnections caps the clients served at once (DefaultMaxConnections when n <= 0); past it new clients are
// refused and the connected ones carry on. Call it before Serve.
func (f *TCPForward) SetMaxConnections(n int) { f.base.setMaxConnections(n) }

func (f *TCPForward) handle(c net.Conn) {
	relayTo(&f.base, c, f.net, f.target)
}

// TCPExpose is wireproxy's [TCPServerTunnel]: connections accepted on a listener inside the tunnel are relayed to
// Target, dialled on the host.
type TCPExpose struct {
	base   serviceBase
	ln     net.Listener
	target string
}

// NewTCPExpose relays connections accepted on ln (a listener inside the tunnel, from Network.Listen) to target
// (host:port) dialled on the host network.
func NewTCPExpose(ln net.Listener, target string, log *slog.Logger) *TCPExpose {
	e := &TCPExpose{ln: ln, target: target}
	e.base.init(log, "service", "tcp-expose", "listen", ln.Addr().String(), "target", target)
	return e
}

// Serve accepts and relays connections until ctx is done or Close is called.
func (e *TCPExpose) Serve(ctx context.Context) error {
	return e.base.serveConns(ctx, e.ln, e.handle)
}

// Close stops the listener and all relayed connections and waits for them.
func (e *TCPExpose) Close() error { return e.base.shutdown(e.ln) }

// Addr is the tunnel address the service listens on.
func (e *TCPExpose) Addr() net.Addr { return e.ln.Addr() }

// SetMaxConnections caps the clients served at once (DefaultMaxConnections when n <= 0); past it new clients are
// refused and the connected ones carry on. Call it before Serve.
func (e *TCPExpose) SetMaxConnections(n int) { e.base.setMaxConnections(n) }

func (e *TCPExpose) handle(c net.Conn) {
	relayTo(&e.base, c, HostNetwork{}, e.target)
}

// relayTo dials target on n and relays c to it; c is closed by the caller.
func relayTo(b *serviceBase, c net.Conn, n Network, target string) {
	ctx, cancel := context.WithTimeout(b.ctx, dialTimeout)
	up, err := n.DialContext(ctx, "tcp", target)
	cancel()
	if err != nil {
		b.log.Debug("dial failed", "client", c.RemoteAddr().String(), "err", err)
		return
	}
	if !b.track(up) {
		return
	}
	defer b.untrack(up)
	b.relay(c, up)
}
