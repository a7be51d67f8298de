package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// defaultUDPIdle is wireproxy's default InactivityTimeout.
const defaultUDPIdle = 60 * time.Second

// maxUDPProxyClients caps the tunnel-side sockets, so a flood of spoofed sources cannot exhaust the stack's ports.
const maxUDPProxyClients = 1024

// UDPProxy is wireproxy's [UDPProxyTunnel]: datagrams arriving on a local UDP socket go to Target inside the
// tunnel, from one tunnel-side socket per client address, and the answers go back to that client. A client's
// socket is dropped after the idle timeout with no traffic either way.
type UDPProxy struct {
	base   serviceBase
	pc     net.PacketConn
	net    Network
	target string
	idle   time.Duration

	mu       sync.Mutex
	sessions map[string]*udpSession
}

// udpSession is one client's tunnel-side socket and when it last carried traffic.
type udpSession struct {
	up       net.Conn
	client   net.Addr
	lastSeen atomic.Int64 // unix nanoseconds
}

// NewUDPProxy relays datagrams between pc (a host socket) and target (IP:port) on n. idle <= 0 means 60 seconds.
func NewUDPProxy(pc net.PacketConn, n Network, target string, idle time.Duration, log *slog.Logger) *UDPProxy {
	if idle <= 0 {
		idle = defaultUDPIdle
	}
	p := &UDPProxy{pc: pc, net: n, target: target, idle: idle, sessions: make(map[string]*udpSession)}
	p.base.init(log, "service", "udp-proxy", "listen", pc.LocalAddr().String(), "target", target)
	return p
}

// Serve relays datagrams until ctx is done or Close is called.
func (p *UDPProxy) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { p.base.shutdown(p.pc) })
	defer stop()
	var serveErr error
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.pc.ReadFrom(buf)
		if err != nil {
			if p.base.isClosed() || ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			serveErr = fmt.Errorf("read on %s: %w", p.pc.LocalAddr(), err)
			break
		}
		sess := p.session(from)
		if sess == nil {
			continue
		}
		sess.lastSeen.Store(time.Now().UnixNano())
		sess.up.Write(buf[:n])
	}
	if err := p.base.shutdown(p.pc); err != nil && serveErr == nil {
		serveErr = err
	}
	return serveErr
}

// Close stops the socket and every client's tunnel-side socket, and waits for them.
func (p *UDPProxy) Close() error { return p.base.shutdown(p.pc) }

// Addr is the local address the proxy receives on.
func (p *UDPProxy) Addr() net.Addr { return p.pc.LocalAddr() }

// session returns the client's session, dialling its tunnel-side socket the first time.
func (p *UDPProxy) session(client net.Addr) *udpSession {
	key := client.String()
	p.mu.Lock()
	sess, ok := p.sessions[key]
	n := len(p.sessions)
	p.mu.Unlock()
	if ok {
		return sess
	}
	if n >= maxUDPProxyClients {
		return nil
	}
	ctx, cancel := context.WithTimeout(p.base.ctx, dialTimeout)
	up, err := p.net.DialContext(ctx, "udp", p.target)
	cancel()
	if err != nil {
		p.base.log.Debug("dial failed", "client", key, "err", err)
		return nil
	}
	if !p.base.track(up) {
		return nil
	}
	sess = &udpSession{up: up, client: client}
	sess.lastSeen.Store(time.Now().UnixNano())
	p.mu.Lock()
	p.sessions[key] = sess
	p.mu.Unlock()
	if !p.base.spawn(func() { p.replies(key, sess) }) {
		p.drop(key, sess)
		return nil
	}
	return sess
}

// replies sends what the target answers back to the client, until the session has been idle too long.
func (p *UDPProxy) replies(key string, sess *udpSession) {
	defer p.drop(key, sess)
	buf := make([]byte, 64<<10)
	for {
		last := time.Unix(0, sess.lastSeen.Load())
		sess.up.SetReadDeadline(last.Add(p.idle))
		n, err := sess.up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if time.Since(time.Unix(0, sess.lastSeen.Load())) < p.idle {
					continue // the client spoke meanwhile
				}
				p.base.log.Debug("session idle, closing", "client", key)
			}
			return
		}
		sess.lastSeen.Store(time.Now().UnixNano())
		if _, err := p.pc.WriteTo(buf[:n], sess.client); err != nil {
			if p.base.isClosed() {
				return
			}
		}
	}
}

func (p *UDPProxy) drop(key string, sess *udpSession) {
	p.mu.Lock()
	if p.sessions[key] == sess {
		delete(p.sessions, key)
	}
	p.mu.Unlock()
	p.base.untrack(sess.up)
}
