package tunnel

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"github.com/wgu-project/wgu/internal/hostcfg"
	"github.com/wgu-project/wgu/tunnel/uapi"
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
		return hostcfg.CreateTUN(t.cfg)
	}
	mtu := t.cfg.Interface.MTU
	if mtu == 0 {
		mtu = hostcfg.DefaultMTU
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
	s := uapi.Serve(ln, t.dev, t.log, true)
	t.uapi = s
	addr, ok := ln.Addr().(*net.UnixAddr)
	if !ok || addr.Name == "" || addr.Name[0] == '@' {
		return nil
	}
	unwatch, err := watchRemoval(addr.Name, func() {
		t.log.Info("UAPI socket removed, shutting down", "path", addr.Name)
		s.Lose()
	})
	if err != nil {
		return fmt.Errorf("watching UAPI socket %s: %w", addr.Name, err)
	}
	s.Unwatch = unwatch
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
