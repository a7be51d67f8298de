package uapi

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wgu-project/wgu/internal/rundir"
	"golang.zx2c4.com/wireguard/device"
)

// Server serves wireguard's cross-platform UAPI protocol on a unix
// socket, so wireguard-tools' wg works on a wgu interface unchanged.
type Server struct {
	ln net.Listener
	wg sync.WaitGroup

	closing atomic.Bool
	lostCh  chan struct{} // closed when the socket stops working by itself
	lostMu  sync.Once
	Unwatch func() // stops watching the socket file; nil without a watch

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Listen listens on dir/name.sock (mode 0600) and hands every
// connection to the device.
func Listen(dir, name string, dev *device.Device, log *slog.Logger) (*Server, error) {
	path := rundir.SocketPath(dir, name)
	ln, err := rundir.ListenPrivate(path, "UAPI socket")
	if err != nil {
		return nil, err
	}
	log.Debug("UAPI socket listening", "path", path)
	return Serve(ln, dev, log, false), nil
}

// Serve hands every connection accepted on ln to the device until
// Close. The server owns ln from now on. With failIsLost, a listener that
// fails for good closes lost() (wireguard-go exits then); without, the
// tunnel runs on without its socket, as before.
func Serve(ln net.Listener, dev *device.Device, log *slog.Logger, failIsLost bool) *Server {
	s := &Server{ln: ln, conns: map[net.Conn]struct{}{}, lostCh: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if s.closing.Load() {
					return
				}
				if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
					log.Warn("UAPI accept", "err", err)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				log.Error("UAPI socket stopped accepting", "err", err)
				if failIsLost {
					s.Lose()
				}
				return
			}
			if err := rundir.CheckPeer(c); err != nil {
				log.Warn("UAPI socket", "err", err)
				c.Close()
				continue
			}
			if !s.track(c) {
				c.Close()
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.untrack(c)
				dev.IpcHandle(c)
			}()
		}
	}()
	return s
}

// Lost is closed when the socket stops working while the tunnel runs: its
// listener failed, or (with a watch) its file was removed. Nil-safe.
func (s *Server) Lost() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.lostCh
}

// Lose marks the socket as lost (its file was removed), closing Lost.
func (s *Server) Lose() { s.lostMu.Do(func() { close(s.lostCh) }) }

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// Close stops accepting, ends open connections, removes the socket file and
// waits for the handlers to return.
func (s *Server) Close() {
	s.closing.Store(true)
	if s.Unwatch != nil {
		s.Unwatch()
	}
	if ul, ok := s.ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(true)
	}
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
}
