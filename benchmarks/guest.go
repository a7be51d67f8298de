package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wgu-project/wgu/e2e"
)

// The emulated-guest rows: where this host has no WireGuard module, Linux's
// own WireGuard still gets a row, measured in a qemu guest under software
// emulation (e2e.StartGuest) on a tap in namespace "a". The guest is one end
// of the tunnel and runs the iperf3 server; the host end is wgu on a TUN.
// In one row the guest's end is the kernel's wg0, in the other a wgu in the
// same guest: the emulated CPU is the bottleneck, so the two rows compare
// the implementations on that CPU. Indicative only: emulation distorts what
// each instruction costs.
const (
	rowKernelGuest = "kernel-guest"
	rowWguGuest    = "wgu-guest"
)

var (
	guestHostLink = netip.MustParsePrefix("192.168.78.1/24") // the tap in "a"
	guestLink     = netip.MustParsePrefix("192.168.78.2/24") // the guest's eth0
)

func guestRows() []rowSpec {
	return []rowSpec{
		{id: rowKernelGuest, name: "kernel WireGuard (emulated guest)", needsWg: true,
			setup: func(ctx context.Context, e *rowEnv) (*tunnelSetup, error) { return setupGuest(ctx, e, false) },
			desc: "EMULATED, indicative only: Linux's wireguard.ko (Debian's kernel) in a qemu guest under software emulation " +
				"(TCG, 1 vCPU), iperf3 server in the guest; host end wgu TUN. CPU s/GB and RSS include qemu. Run only where the host has no WireGuard module"},
		{id: rowWguGuest, name: "wgu (same guest)", needsWg: true,
			setup: func(ctx context.Context, e *rowEnv) (*tunnelSetup, error) { return setupGuest(ctx, e, true) },
			desc:  "EMULATED, indicative only: the same guest with wgu TUN instead of wg0, for comparison with the row above"},
	}
}

// hostHasWireGuard reports whether this kernel has WireGuard (loaded, or
// as a module it could load): then the native kernel row stands and the
// emulated rows are left out.
func hostHasWireGuard() bool {
	if _, err := os.Stat("/sys/module/wireguard"); err == nil {
		return true
	}
	release, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return false
	}
	found, _ := filepath.Glob(filepath.Join("/lib/modules", strings.TrimSpace(string(release)), "kernel/drivers/net/wireguard/wireguard.ko*"))
	return len(found) > 0
}

// setupGuest boots the guest, brings up the guest's end (kernel wg0, or
// wgu when guestWgu) and the iperf3 server in it, then wgu on the host.
func setupGuest(ctx context.Context, e *rowEnv, guestWgu bool) (*tunnelSetup, error) {
	extra := []string{"iperf3"}
	if guestWgu {
		extra = append(extra, e.bench.wgu)
	}
	img, err := e2e.PrepareGuestImage(ctx, extra...)
	if err != nil {
		return nil, skipError{"no emulated guest: " + err.Error()}
	}
	tap := e.lab.IfName("tap")
	g, err := e2e.StartGuest(ctx, e.a, img, tap)
	if err != nil {
		return nil, err
	}
	e.bench.log.Info("guest booted", "kernel", img.Version, "boot", g.BootTime.Round(100*time.Millisecond))
	e.notes = appendUnique(e.notes, "guest: Linux "+img.Version+" under qemu TCG (software emulation), 1 vCPU, 256 MiB")
	if _, err := run(ctx, e.a, "ip", "addr", "add", guestHostLink.String(), "dev", tap); err != nil {
		g.Close()
		return nil, err
	}
	host := end{ns: e.a, ifName: e.ifA, key: e.keyA, tun: tunA, peerKey: e.keyB.public,
		peerLink: guestLink.Addr(), peerTun: tunB.Addr()}
	guest := end{ifName: "wg0", key: e.keyB, tun: tunB, peerKey: e.keyA.public,
		peerLink: guestHostLink.Addr(), peerTun: tunA.Addr()}
	script := fmt.Sprintf("ip link set lo up && ip link set eth0 up && ip addr add %s dev eth0\n", guestLink)
	if guestWgu {
		script += fmt.Sprintf("cat > /tmp/wg0.conf <<'EOF'\n%sEOF\nchmod 600 /tmp/wg0.conf && wgu up -c /tmp/wg0.conf --mode tun\n", guest.wgConfig(true))
	} else {
		script += fmt.Sprintf("cat > /tmp/wg0.conf <<'EOF'\n%sEOF\n", guest.wgConfig(false)) +
			fmt.Sprintf("ip link add wg0 type wireguard && wg setconf wg0 /tmp/wg0.conf && ip addr add %s dev wg0 && ip link set wg0 up\n", tunB)
	}
	script += fmt.Sprintf("iperf3 -s -D -p %d", perfPrt)
	if out, err := g.Run(ctx, script); err != nil {
		g.Close()
		return nil, fmt.Errorf("setting up the guest: %w\n%s", err, out)
	}
	pid, err := e.wguUp(ctx, host, "tun")
	if err != nil {
		g.Close()
		return nil, err
	}
	start := time.Now()
	if err := firstReplyKernel(ctx, e.a, tunB.Addr()); err != nil {
		g.Close()
		return nil, err
	}
	down := e.wguDown(host)
	return &tunnelSetup{target: tunB.Addr(), ping: kernelPinger(e.a, tunB.Addr()), startup: time.Since(start),
		pids: []int{pid, g.Pid()}, serverRunning: true,
		teardown: func(ctx context.Context) { down(ctx); g.Close() }}, nil
}
