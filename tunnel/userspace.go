package tunnel

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// Userspace-daemon mode is what wg-quick expects of wireguard-go when the
// kernel has no WireGuard: a TUN and a UAPI socket, nothing else. The caller
// (wg-quick) sets addresses, MTU, routes and the link state with ip(8), and
// configures the device over the socket with `wg setconf`. Up accepts a
// Config with only a name for it: the device starts without a key or peers.

// userspaceOptions are the Up options of userspace-daemon mode.
type userspaceOptions struct {
	tunFile *os.File     // a TUN opened by someone else (WG_TUN_FD)
	uapi    net.Listener // the UAPI listener (WG_UAPI_FD, or opened by OpenUAPI)
	noHost  bool         // leave addresses, MTU, routes and link state alone
}

// WithTUNFile runs the tunnel on an already open kernel TUN instead of
// creating one named after the config; this implies ModeTUN. The file should
// be non-blocking, as TUNFileFromFD makes it. Up owns f from then on: it is
// closed on failure and by Close.
func WithTUNFile(f *os.File) UpOption {
	return func(o *options) { o.userspace.tunFile = f }
}

// WithUAPIListener serves wireguard's UAPI protocol on ln, as wireguard-go
// does on the socket it is handed. If ln is a unix socket with a path, the
// tunnel closes itself when that file is removed (as wireguard-go exits),
// and Close removes it. Up owns ln from then on. It excludes
// WithUAPISocket, which also makes wgu's control socket and state file.
func WithUAPIListener(ln net.Listener) UpOption {
	return func(o *options) { o.userspace.uapi = ln }
}

// WithoutHostConfig leaves the host alone: no addresses, MTU, routes, DNS
// or link state are set in TUN mode, and the device follows the link's
// state (it comes up with `ip link set up`), as wireguard-go's does.
func WithoutHostConfig() UpOption {
	return func(o *options) { o.userspace.noHost = true }
}

// check rejects option combinations Up cannot honour.
func (u userspaceOptions) check(o *options) error {
	if u.uapi != nil && o.runDir != "" {
		return errors.New("WithUAPIListener and WithUAPISocket exclude each other")
	}
	if u.tunFile != nil && o.mode == ModeNetstack {
		return errors.New("WithTUNFile needs TUN mode, not netstack")
	}
	return nil
}

// closeUnused closes what the caller handed in but Up never came to use.
func (t *Tunnel) closeUnused() {
	if t.uapi == nil && t.opts.userspace.uapi != nil {
		if ul, ok := t.opts.userspace.uapi.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(true)
		}
		t.opts.userspace.uapi.Close()
	}
	if t.tdev == nil && t.opts.userspace.tunFile != nil {
		t.opts.userspace.tunFile.Close()
	}
}

// openTUN creates the kernel TUN, or takes the one handed in.
func (t *Tunnel) openTUN() (tun.Device, error) {
	f := t.opts.userspace.tunFile
	if f == nil {
		return createTUN(t.cfg)
	}
	mtu := t.cfg.Interface.MTU
	if mtu == 0 {
		mtu = defaultMTU
	}
	dev, err := tun.CreateTUNFromFile(f, mtu)
	if err != nil {
		return nil, fmt.Errorf("using TUN %s: %w", f.Name(), err)
	}
	return dev, nil
}

// serveUserspaceUAPI serves the handed-in UAPI listener and, for a unix
// socket with a path, watches that file.
func (t *Tunnel) serveUserspaceUAPI() error {
	ln := t.opts.userspace.uapi
	s := serveUAPI(ln, t.dev, &t.peersTouched, t.log, true)
	t.uapi = s
	addr, ok := ln.Addr().(*net.UnixAddr)
	if !ok || addr.Name == "" || addr.Name[0] == '@' {
		return nil
	}
	unwatch, err := watchRemoval(addr.Name, func() {
		t.log.Info("UAPI socket removed, shutting down", "path", addr.Name)
		s.lose()
	})
	if err != nil {
		return fmt.Errorf("watching UAPI socket %s: %w", addr.Name, err)
	}
	s.unwatch = unwatch
	t.log.Debug("UAPI socket listening", "path", addr.Name)
	return nil
}

// watchRemoval calls gone once path no longer exists (it was removed or
// renamed); stop ends the watch. A bound socket's inode lives on after
// unlink, so the watch is on its link count (IN_ATTRIB), not only on its
// deletion.
func watchRemoval(path string, gone func()) (stop func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_ATTRIB|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch: %w", err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close interrupts Read
	missing := func() bool {
		_, err := os.Lstat(path)
		return errors.Is(err, fs.ErrNotExist)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			// Check first: the file may have gone before the watch began.
			if missing() {
				gone()
				return
			}
			if _, err := f.Read(buf); err != nil {
				return // stopped
			}
		}
	}()
	return func() { f.Close() }, nil
}

// OpenTUN creates kernel TUN name the way wireguard-go does and returns its
// descriptor and actual name, for handing to another process (a daemon
// child) that passes it to WithTUNFile. The interface lives as long as a
// descriptor of it stays open.
func OpenTUN(name string) (*os.File, string, error) {
	dev, err := tun.CreateTUN(name, defaultMTU)
	if err != nil {
		return nil, "", fmt.Errorf("creating TUN %s: %w", name, err)
	}
	native, ok := dev.(interface{ File() *os.File })
	if !ok {
		dev.Close()
		return nil, "", fmt.Errorf("creating TUN %s: the device has no descriptor", name)
	}
	real, err := dev.Name()
	if err != nil {
		dev.Close()
		return nil, "", fmt.Errorf("reading TUN name: %w", err)
	}
	// dev is dropped but not closed: closing it would close the file.
	return native.File(), real, nil
}

// TUNFileFromFD wraps an inherited TUN descriptor (WG_TUN_FD) for
// WithTUNFile, making it non-blocking first, and returns the interface's
// name as the kernel knows it.
func TUNFileFromFD(fd int) (*os.File, string, error) {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return nil, "", err
	}
	if err := unix.IoctlIfreq(fd, unix.TUNGETIFF, ifr); err != nil {
		return nil, "", fmt.Errorf("descriptor %d is not a TUN: %w", fd, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, "", fmt.Errorf("descriptor %d: %w", fd, err)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun"), ifr.Name(), nil
}

// OpenUAPI creates the UAPI socket dir/NAME.sock (mode 0600) the way
// wireguard-go does, replacing a stale one, and returns it as a file, for
// handing to another process or to UAPIListenerFromFile. Whoever ends up
// with the listener removes the file (WithUAPIListener's Close does).
func OpenUAPI(dir, name string) (*os.File, error) {
	if err := claimSocket(dir, name); err != nil {
		return nil, err
	}
	path := SocketPath(dir, name)
	ln, err := listenPrivate(path, "UAPI socket")
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

// UAPIListenerFromFile turns a listening unix socket descriptor (from
// OpenUAPI, or inherited as WG_UAPI_FD) into a listener for
// WithUAPIListener. f is closed; the listener has its own descriptor.
func UAPIListenerFromFile(f *os.File) (net.Listener, error) {
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
