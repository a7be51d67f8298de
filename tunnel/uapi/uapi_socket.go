package uapi

import (
	"fmt"
	"net"
	"os"

	"github.com/wgu-project/wgu/internal/rundir"
)

// Open creates the UAPI socket dir/NAME.sock (mode 0600) the way
// wireguard-go does, replacing a stale one, and returns it as a file, for
// handing to another process or to UAPIListenerFromFile. Whoever ends up
// with the listener removes the file (WithUAPIListener's Close does).
func Open(dir, name string) (*os.File, error) {
	if err := rundir.ClaimSocket(dir, name); err != nil {
		return nil, err
	}
	path := rundir.SocketPath(dir, name)
	ln, err := rundir.ListenPrivate(path, "UAPI socket")
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	defer ln.Close() // the file is a duplicate that stays open
	f, err := ln.File()
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("UAPI socket descriptor: %w", err)
	}
	return f, nil
}

// ListenerFromFile turns a listening unix socket descriptor (from
// Open, or inherited as WG_UAPI_FD) into a listener for
// WithUAPIListener. f is closed; the listener has its own descriptor.
func ListenerFromFile(f *os.File) (net.Listener, error) {
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("UAPI descriptor: %w", err)
	}
	if _, ok := ln.(*net.UnixListener); !ok {
		ln.Close()
		return nil, fmt.Errorf("UAPI descriptor: not a unix socket but %s", ln.Addr().Network())
	}
	return ln, nil
}
