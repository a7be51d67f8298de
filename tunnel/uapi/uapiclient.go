package uapi

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wgu-project/wgu/internal/rundir"
)

// Timeout bounds a UAPI exchange when ctx has no deadline: a daemon
// that accepts but never answers must not hang `wgu show`.
const Timeout = 10 * time.Second

// Dial connects to a UAPI socket with ctx's deadline (or uapiTimeout)
// on the whole exchange.
func Dial(ctx context.Context, socketPath string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", socketPath, err)
	}
	if err := rundir.CheckServer(c, socketPath); err != nil {
		c.Close()
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(Timeout)
	}
	c.SetDeadline(deadline)
	return c, nil
}

// Get asks the UAPI socket at socketPath (wgu's, wireguard-go's) for
// the device's state. Status.Name is the socket's base name.
func Get(ctx context.Context, socketPath string) (*Status, error) {
	var st *Status
	err := get(ctx, socketPath, func(r *bufio.Reader) (err error) {
		st, err = ParseStatus(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	st.Name = strings.TrimSuffix(filepath.Base(socketPath), ".sock")
	return st, nil
}

// Visit asks the UAPI socket at socketPath for the device's state and hands
// it to v while it is read (see ReadStatus). Status.Name is the socket's
// base name.
func Visit(ctx context.Context, socketPath string, v StatusVisitor) error {
	name := strings.TrimSuffix(filepath.Base(socketPath), ".sock")
	if dev := v.Device; dev != nil {
		v.Device = func(st *Status) error {
			st.Name = name
			return dev(st)
		}
	}
	return get(ctx, socketPath, func(r *bufio.Reader) error { return ReadStatus(r, v) })
}

// get sends a get request to the socket at socketPath and reads the reply
// with read.
func get(ctx context.Context, socketPath string, read func(*bufio.Reader) error) error {
	c, err := Dial(ctx, socketPath)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte(getRequest)); err != nil {
		return fmt.Errorf("%s: %w", socketPath, err)
	}
	// A large buffer: at 10,000 peers the reply is 3 MB.
	if err := read(bufio.NewReaderSize(c, 64<<10)); err != nil {
		return fmt.Errorf("%s: %w", socketPath, err)
	}
	return nil
}

// Set sends a UAPI "set" operation with body (key=value lines, each
// ending in a newline) and returns the device's verdict.
func Set(ctx context.Context, socketPath string, body string) error {
	c, err := Dial(ctx, socketPath)
	if err != nil {
		return err
	}
	defer c.Close()
	if body != "" && !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	if _, err := c.Write([]byte("set=1\n" + body + "\n")); err != nil {
		return fmt.Errorf("%s: %w", socketPath, err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s: %w: no reply: %v", socketPath, ErrProtocol, err)
	}
	value, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "errno=")
	if !ok {
		return fmt.Errorf("%s: %w: unexpected reply %q", socketPath, ErrProtocol, line)
	}
	code, err := strconv.ParseInt(value, 10, 32)
	if err != nil {
		return fmt.Errorf("%s: %w: errno %q", socketPath, ErrProtocol, value)
	}
	if code < 0 {
		// wireguard-go answers with a negative errno, as the kernel would.
		return fmt.Errorf("%s: device refused the change: %w", socketPath, syscall.Errno(-code))
	}
	if code > 0 {
		return fmt.Errorf("%s: %w: device refused the change (errno %d)", socketPath, ErrProtocol, code)
	}
	return nil
}
