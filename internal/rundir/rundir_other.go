//go:build !linux

package rundir

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// The run directory's trust checks, private sockets and peer credentials are
// written against Linux; elsewhere a tunnel runs without a run directory
// (no UAPI socket, state file or control socket).

var errNotHere = fmt.Errorf("run directory: %w", errors.ErrUnsupported)

// Dir is an opened, trusted run directory (Linux only).
type Dir struct{}

// Open fails: run directories are Linux only.
func Open(dir string) (*Dir, error) { return nil, errNotHere }

// Path is never reached off Linux.
func (d *Dir) Path() string { return "" }

// Close is never reached off Linux.
func (d *Dir) Close() error { return nil }

// OpenFile fails: run directories are Linux only.
func (d *Dir) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return nil, errNotHere
}

// Ensure fails: run directories are Linux only.
func Ensure(dir string) error { return errNotHere }

// ReadFile fails: run directories are Linux only.
func ReadFile(dir, name string) ([]byte, error) { return nil, errNotHere }

// WriteFile fails: run directories are Linux only.
func WriteFile(dir, name string, data []byte) error { return errNotHere }

// CheckFile fails: run directories are Linux only.
func CheckFile(path string) error { return errNotHere }

// Readable fails: run directories are Linux only.
func Readable(dir string) error { return errNotHere }

// ListenPrivate fails: the private socket relies on Linux's bind semantics.
func ListenPrivate(path, what string) (*net.UnixListener, error) { return nil, errNotHere }

// ClaimSocket fails: run directories are Linux only.
func ClaimSocket(dir, name string) error { return errNotHere }

// CheckPeer fails: peer credentials are read the Linux way (SO_PEERCRED).
func CheckPeer(c net.Conn) error { return errNotHere }

// CheckServer fails: peer credentials are read the Linux way (SO_PEERCRED).
func CheckServer(c net.Conn, path string) error { return errNotHere }
