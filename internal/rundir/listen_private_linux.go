package rundir

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// ListenPrivate listens on a unix socket at path that only this user may
// connect to (mode 0600, in a 0700 run directory). what names the socket
// in errors.
//
// The file is created 0600 by bind itself, so there is no moment at which
// it is group or world accessible: Linux gives the new file the mode of
// the socket's own inode minus the umask, and that inode is set to 0600
// (fchmod) before bind. Setting the umask to 077 around bind, as
// wireguard-go does, would do the same but the umask belongs to the whole
// process: every goroutine creating a file meanwhile (a hook's shell, a
// SaveConfig, the log) would get the narrowed umask too, or restore the
// old one under us. A chmod after bind would leave a window.
func ListenPrivate(path, what string) (*net.UnixListener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", what, err)
	}
	f := os.NewFile(uintptr(fd), path) // closes fd on every path below
	defer f.Close()
	if err := unix.Fchmod(fd, 0o600); err != nil {
		return nil, fmt.Errorf("securing %s before bind: %w", what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, fmt.Errorf("listening on %s %s: %w", what, path, err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("listening on %s %s: %w", what, path, err)
	}
	ln, err := net.FileListener(f) // a duplicate of fd
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("listening on %s %s: %w", what, path, err)
	}
	ul := ln.(*net.UnixListener)
	// As net.ListenUnix's listeners do: Close removes the file.
	ul.SetUnlinkOnClose(true)
	return ul, nil
}
