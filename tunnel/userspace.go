package tunnel

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/wgu-project/wgu/internal/hostcfg"
	"github.com/wgu-project/wgu/tunnel/uapi"
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
	dev, err := hostcfg.TUNFromFile(f, mtu)
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
