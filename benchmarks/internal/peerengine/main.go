// Command peerengine is the suite's stand-in for what rootless WireGuard
// tools run instead of wgu: wireguard-go's own userspace stack
// (golang.zx2c4.com/wireguard/tun/netstack) on wireguard-go's default bind,
// with TCP port forwards that relay each accepted connection with io.Copy
// through gonet, the shape of wireproxy's [TCPClientTunnel].
//
// It reads the same wg-quick file wgu would (through wgu's parser, so both
// engines get the identical device configuration) and takes the forwards as
// flags:
//
//	peerengine -c wg0.conf -forward 127.0.0.1:5201=10.77.0.2:5201 -ready 10.77.0.2
//
// With -ready it pings that tunnel address through the stack until a reply
// comes, then prints "ready" on stdout; it runs until SIGINT or SIGTERM.
// Only for the benchmarks: it has none of wgu's limits or checks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/wgu-project/wgu/tunnel/config"
)

// defaultMTU is what wireproxy uses when the config sets none (and what
// wgu's automatic MTU comes to over a 1500-byte link).
const defaultMTU = 1420

// forward is one -forward LISTEN=TARGET.
type forward struct {
	listen, target netip.AddrPort
}

type forwards []forward

func (f *forwards) String() string { return fmt.Sprint(*f) }

func (f *forwards) Set(s string) error {
	l, t, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q: want LISTEN=TARGET", s)
	}
	la, err := netip.ParseAddrPort(l)
	if err != nil {
		return fmt.Errorf("listen address: %w", err)
	}
	ta, err := netip.ParseAddrPort(t)
	if err != nil {
		return fmt.Errorf("target address: %w", err)
	}
	*f = append(*f, forward{la, ta})
	return nil
}

func main() {
	var (
		cfgPath string
		fwds    forwards
		ready   string
	)
	flag.StringVar(&cfgPath, "c", "", "wg-quick config file (Address, PrivateKey, ListenPort, MTU, [Peer]s)")
	flag.Var(&fwds, "forward", "LISTEN=TARGET: relay TCP connections on a host address to a tunnel address (repeatable)")
	flag.StringVar(&ready, "ready", "", "tunnel address to ping until it answers, then print \"ready\"")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, cfgPath, fwds, ready); err != nil {
		log.Error("peerengine failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, cfgPath string, fwds forwards, ready string) error {
	if cfgPath == "" {
		return errors.New("-c is required")
	}
	cfg, err := config.LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	var addrs []netip.Addr
	for _, p := range cfg.Interface.Addresses {
		addrs = append(addrs, p.Addr())
	}
	mtu := cfg.Interface.MTU
	if mtu == 0 {
		mtu = defaultMTU
	}
	tdev, tnet, err := netstack.CreateNetTUN(addrs, cfg.Interface.DNS, mtu)
	if err != nil {
		return fmt.Errorf("creating the netstack TUN: %w", err)
	}
	dev := device.NewDevice(tdev, conn.NewDefaultBind(), device.NewLogger(device.LogLevelError, "peerengine: "))
	defer dev.Close()
	uapi, err := cfg.UAPISet(ctx, net.DefaultResolver)
	if err != nil {
		return err
	}
	if err := dev.IpcSet(uapi); err != nil {
		return fmt.Errorf("configuring the device: %w", err)
	}
	if err := dev.Up(); err != nil {
		return fmt.Errorf("bringing the device up: %w", err)
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	for _, f := range fwds {
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(f.listen))
		if err != nil {
			return fmt.Errorf("forward %s: %w", f.listen, err)
		}
		go func() { <-ctx.Done(); ln.Close() }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ctx, log, ln, tnet, f.target)
		}()
	}
	if ready != "" {
		to, err := netip.ParseAddr(ready)
		if err != nil {
			return fmt.Errorf("-ready: %w", err)
		}
		if err := waitReply(ctx, tnet, addrs, to); err != nil {
			return err
		}
		fmt.Println("ready")
	}
	<-ctx.Done()
	return nil
}

// serve accepts connections on ln and relays each to target, as wireproxy
// does: dial through the stack, then io.Copy each way.
func serve(ctx context.Context, log *slog.Logger, ln *net.TCPListener, tnet *netstack.Net, target netip.AddrPort) {
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if ctx.Err() == nil {
				log.Error("accept", "err", err)
			}
			return
		}
		go func() {
			defer c.Close()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			t, err := tnet.DialContextTCPAddrPort(dctx, target)
			cancel()
			if err != nil {
				log.Error("dialing through the tunnel", "target", target, "err", err)
				return
			}
			defer t.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(t, c); t.CloseWrite(); done <- struct{}{} }()
			go func() { io.Copy(c, t); c.CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

// waitReply pings to through the stack every 100 ms until a reply comes.
func waitReply(ctx context.Context, tnet *netstack.Net, local []netip.Addr, to netip.Addr) error {
	var from netip.Addr
	for _, a := range local {
		if a.Is4() == to.Is4() {
			from = a
			break
		}
	}
	if !from.IsValid() {
		return fmt.Errorf("no local address of %s's family", to)
	}
	// An echo request: type 8 (v4) or 128 (v6), code 0; the stack fills
	// in the checksum and identifier.
	req := []byte{8, 0, 0, 0, 0, 0, 0, 1}
	if to.Is6() {
		req[0] = 128
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		pc, err := tnet.DialPingAddr(from, to)
		if err != nil {
			return fmt.Errorf("ping socket: %w", err)
		}
		pc.SetDeadline(time.Now().Add(100 * time.Millisecond))
		_, err = pc.Write(req)
		if err == nil {
			buf := make([]byte, 1500)
			_, err = pc.Read(buf)
		}
		pc.Close()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("no ping reply from %s through the tunnel in 15s", to)
}
