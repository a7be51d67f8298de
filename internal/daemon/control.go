package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/wgu-project/wgu/internal/rundir"
)

// The control socket carries what UAPI cannot say: the mode, the services
// and pings from inside a rootless tunnel. One JSON request per line, one
// JSON reply per line.

// Request is a request on the control socket.
type Request struct {
	Op      string `json:"op"`                // "info", "ping", "reload" or "external-hooks"
	Addr    string `json:"addr,omitempty"`    // ping: destination IP
	Seq     uint16 `json:"seq,omitempty"`     // ping: sequence number
	Timeout int64  `json:"timeout,omitempty"` // ping: nanoseconds to wait for the reply
}

// Reply answers a ControlRequest.
type Reply struct {
	Error    string   `json:"error,omitempty"`
	Mode     string   `json:"mode,omitempty"` // "tun" or "netstack"
	PID      int      `json:"pid,omitempty"`
	Services []string `json:"services,omitempty"` // one human-readable line each
	RTT      int64    `json:"rtt,omitempty"`      // ping: nanoseconds
	// Goroutines is the daemon's goroutine count: tests use it to check that
	// closed connections leave nothing behind.
	Goroutines int `json:"goroutines,omitempty"`
	// Counters are the netstack's packet and TCP counters.
	Counters map[string]uint64 `json:"counters,omitempty"`
	// Warnings are the reloaded config's warnings (reload), one line each.
	Warnings []string `json:"warnings,omitempty"`
}

// ControlServer serves a tunnel's control socket.
type ControlServer struct {
	ln *net.UnixListener
	wg sync.WaitGroup
}

// ListenControl listens on dir/NAME.wgu (mode 0600) and answers each request
// with handle, one JSON line each way.
func ListenControl(dir, name string, handle func(Request) Reply, log *slog.Logger) (*ControlServer, error) {
	path := rundir.ControlPath(dir, name)
	os.Remove(path)
	ln, err := rundir.ListenPrivate(path, "control socket")
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(true)
	s := &ControlServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					log.Error("control accept", "err", err)
				}
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c, handle, log)
			}()
		}
	}()
	return s, nil
}

func (s *ControlServer) serve(c net.Conn, handle func(Request) Reply, log *slog.Logger) {
	defer c.Close()
	if err := rundir.CheckPeer(c); err != nil {
		log.Warn("control socket", "err", err)
		return // closed without an answer
	}
	// A request is small and quick; a stuck client must not hold Close up.
	c.SetDeadline(time.Now().Add(time.Minute))
	sc := bufio.NewScanner(c)
	enc := json.NewEncoder(c)
	for sc.Scan() {
		var req Request
		var rep Reply
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			rep.Error = "bad request: " + err.Error()
		} else {
			rep = handle(req)
		}
		if enc.Encode(rep) != nil {
			return
		}
	}
}

// Close stops the server and waits for its handlers.
func (s *ControlServer) Close() {
	s.ln.Close()
	s.wg.Wait()
}

// Client talks to a tunnel's control socket.
type Client struct {
	conn net.Conn
	sc   *bufio.Scanner
}

// Dial connects to the control socket of interface name.
func Dial(ctx context.Context, explicitDir, name string) (*Client, error) {
	var d net.Dialer
	for _, dir := range rundir.RunDirs(explicitDir) {
		c, err := d.DialContext(ctx, "unix", rundir.ControlPath(dir, name))
		if err == nil {
			if err := rundir.CheckServer(c, rundir.ControlPath(dir, name)); err != nil {
				c.Close()
				return nil, err
			}
			return &Client{conn: c, sc: bufio.NewScanner(c)}, nil
		}
	}
	return nil, fmt.Errorf("%s: no wgu control socket: %w", name, rundir.ErrNoInterface)
}

// dialControlIn connects to the control socket of interface name in dir
// only.
func dialControlIn(ctx context.Context, dir, name string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", rundir.ControlPath(dir, name))
	if err != nil {
		return nil, err
	}
	if err := rundir.CheckServer(c, rundir.ControlPath(dir, name)); err != nil {
		c.Close()
		return nil, err
	}
	return &Client{conn: c, sc: bufio.NewScanner(c)}, nil
}

// Do sends one request and reads its reply; a reply carrying an error is
// returned as an error.
func (c *Client) Do(req Request) (*Reply, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if !c.sc.Scan() {
		if err := c.sc.Err(); err != nil {
			return nil, fmt.Errorf("control socket: %w", err)
		}
		return nil, fmt.Errorf("control socket: connection closed")
	}
	var rep Reply
	if err := json.Unmarshal(c.sc.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if rep.Error != "" {
		return &rep, errors.New(rep.Error)
	}
	return &rep, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
