package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The userspace-daemon contract (WG-COMPAT.md section 0): wgu started the
// way wg-quick starts wireguard-go, configured only with wg and ip.

// userspaceLab is two namespaces on one link: "peer" runs a normal
// `wgu up`, "user" gets the interface under test.
type userspaceLab struct {
	lab        *Lab
	peer, user *Netns
	peerIf     string
	peerKey    keyPair
	userKey    keyPair
	dir        string
}

var (
	usPeerLink = netip.MustParsePrefix("172.31.9.1/24")
	usUserLink = netip.MustParsePrefix("172.31.9.2/24")
	usPeerWG   = netip.MustParseAddr("10.9.0.1")
	usUserWG   = netip.MustParseAddr("10.9.0.2")
	usBehind   = netip.MustParseAddr("192.168.79.1") // only the peer has it (on lo)
)

// newUserspaceLab builds the namespaces and brings the peer up; the user
// side is left to the test.
func newUserspaceLab(ctx context.Context, t *testing.T) *userspaceLab {
	t.Helper()
	RequireE2E(t)
	l := &userspaceLab{lab: NewLab(t), dir: t.TempDir(), peerKey: newKeyPair(t), userKey: newKeyPair(t)}
	l.peer, l.user = l.lab.Netns("peer"), l.lab.Netns("user")
	l.lab.Link(l.peer, l.user, usPeerLink, usUserLink)
	l.peer.MustRun("ip", "addr", "add", usBehind.String()+"/32", "dev", "lo")
	l.peerIf = l.lab.IfName("peer")
	conf := writeConfig(t, l.dir, l.peerIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d

[Peer]
PublicKey = %s
AllowedIPs = %s/32
`, l.peerKey.Private, usPeerWG, hubPort, l.userKey.Public, usUserWG))
	wguUp(ctx, t, l.peer, conf)
	return l
}

// linkExists reports whether ns has a link named name.
func linkExists(ctx context.Context, ns *Netns, name string) bool {
	_, _, err := ns.Run(ctx, "ip", "link", "show", "dev", name)
	return err == nil
}

// deleteLinkAtCleanup deletes link name in ns at the end of the test, if it
// is still there, so that its daemon exits by itself before the lab kills
// what is left.
func deleteLinkAtCleanup(t *testing.T, ns *Netns, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if linkExists(ctx, ns, name) {
			ns.Run(ctx, "ip", "link", "del", "dev", name)
		}
	})
}

// waitDaemonGone waits until the daemon pid has exited and name's socket
// and files are gone.
func waitDaemonGone(ctx context.Context, t *testing.T, pid int, name string) {
	t.Helper()
	if err := waitFor(ctx, fmt.Sprintf("daemon %d to exit", pid), func() bool { return processGone(pid) }); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "socket removal", func() bool { return len(leftovers(name)) == 0 }); err != nil {
		t.Fatalf("%v: left %v in %s", err, leftovers(name), wgRunDir)
	}
}

func TestUserspaceContract(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	l := newUserspaceLab(ctx, t)
	name := l.lab.IfName("us")
	deleteLinkAtCleanup(t, l.user, name)

	// As wg-quick does: `IMPL IFNAME`, which returns once both exist. Run
	// captures output in pipes and fails if the daemon holds them.
	if out, errOut, err := l.user.Run(ctx, wguBinary(t), "userspace", name); err != nil {
		t.Fatalf("wgu userspace %s: %v\nstdout: %s\nstderr: %s", name, err, out, errOut)
	}
	if fi, err := os.Stat(socketPath(name)); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("wgu userspace returned but %s is not a socket (%v)", socketPath(name), err)
	}
	link := l.user.MustRun("ip", "link", "show", "dev", name)
	if !strings.Contains(link, "mtu 1420") || strings.Contains(link, ",UP") {
		t.Errorf("new interface should be down with MTU 1420, as wireguard-go leaves it:\n%s", link)
	}
	if addrs := strings.TrimSpace(l.user.MustRun("ip", "-o", "addr", "show", "dev", name)); addrs != "" {
		t.Errorf("wgu set addresses in userspace mode:\n%s", addrs)
	}
	pid := daemonPID(ctx, t, l.user, name)
	if processGone(pid) {
		t.Fatalf("daemon %d of %s is not running", pid, name)
	}
	// An unconfigured device: no key, no peers.
	if dump := l.user.MustRun("wg", "show", name, "dump"); !strings.HasPrefix(dump, "(none)\t(none)\t") {
		t.Errorf("fresh device is not unconfigured:\n%s", dump)
	}

	// What wg-quick does next: setconf, addresses, MTU, link up.
	setconf := writeConfig(t, l.dir, name+"-setconf", fmt.Sprintf(`[Interface]
PrivateKey = %s

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = %s/32
`, l.userKey.Private, l.peerKey.Public, usPeerLink.Addr(), hubPort, usPeerWG))
	l.user.MustRun("wg", "setconf", name, setconf)
	l.user.MustRun("ip", "-4", "address", "add", usUserWG.String()+"/24", "dev", name)
	l.user.MustRun("ip", "link", "set", "mtu", "1380", "up", "dev", name)

	if err := l.user.Ping(ctx, usPeerWG); err != nil {
		t.Fatal(err)
	}
	if err := l.peer.Ping(ctx, usUserWG); err != nil {
		t.Fatal(err)
	}
	show := l.user.MustRun("wg", "show", name)
	for _, want := range []string{"interface: " + name, "public key: " + l.userKey.Public, "peer: " + l.peerKey.Public, "latest handshake:"} {
		if !strings.Contains(show, want) {
			t.Errorf("wg show %s lacks %q:\n%s", name, want, show)
		}
	}
	if link := l.user.MustRun("ip", "link", "show", "dev", name); !strings.Contains(link, "mtu 1380") {
		t.Errorf("MTU set with ip did not stick:\n%s", link)
	}

	// wg-quick down: `ip link del` alone ends the daemon.
	l.user.MustRun("ip", "link", "del", "dev", name)
	waitDaemonGone(ctx, t, pid, name)
}

func TestUserspaceWgQuickFallback(t *testing.T) {
	RequireE2E(t)
	if _, err := exec.LookPath("wg-quick"); err != nil {
		skipOrFail(t, "wg-quick not found in PATH (wireguard-tools provides it)")
	}
	if _, err := os.Stat("/sys/module/wireguard"); err == nil {
		t.Skip("this kernel has the WireGuard module: wg-quick would not fall back to a userspace implementation")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	l := newUserspaceLab(ctx, t)
	name := l.lab.IfName("wq")
	deleteLinkAtCleanup(t, l.user, name)

	// wg-quick runs "$WG_QUICK_USERSPACE_IMPLEMENTATION" IFNAME: a single
	// path, so a symlink named wireguard-go makes wgu behave as one.
	implDir := t.TempDir()
	impl := filepath.Join(implDir, "wireguard-go")
	if err := os.Symlink(wguBinary(t), impl); err != nil {
		t.Fatal(err)
	}
	// A full tunnel, so wg-quick also sets the fwmark over UAPI and adds
	// its policy routing and nftables rules. No DNS: no resolvconf.
	conf := writeConfig(t, l.dir, name, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 0.0.0.0/0
`, l.userKey.Private, usUserWG, l.peerKey.Public, usPeerLink.Addr(), hubPort))
	wgQuick := func(action string) string {
		t.Helper()
		out, errOut, err := l.user.Run(ctx, "env", "WG_QUICK_USERSPACE_IMPLEMENTATION="+impl, "wg-quick", action, conf)
		if err != nil {
			t.Fatalf("wg-quick %s: %v\nstdout: %s\nstderr: %s", action, err, out, errOut)
		}
		return errOut
	}

	before := routingState(t, l.user)
	upLog := wgQuick("up")
	if !strings.Contains(upLog, "[#] "+impl+" "+name) {
		t.Fatalf("wg-quick did not fall back to %s:\n%s", impl, upLog)
	}
	pid := daemonPID(ctx, t, l.user, name)
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != wguBinary(t) {
		t.Errorf("daemon %d runs %q (%v), want %s", pid, exe, err, wguBinary(t))
	}

	if err := l.user.Ping(ctx, usPeerWG); err != nil {
		t.Fatalf("%v\nwg-quick up said:\n%s", err, upLog)
	}
	if err := l.user.Ping(ctx, usBehind); err != nil {
		t.Fatal(err)
	}
	show := l.user.MustRun("wg", "show", name)
	for _, want := range []string{"interface: " + name, "fwmark: 0xca6c", "peer: " + l.peerKey.Public, "allowed ips: 0.0.0.0/0", "latest handshake:"} {
		if !strings.Contains(show, want) {
			t.Errorf("wg show %s lacks %q:\n%s", name, want, show)
		}
	}

	wgQuick("down")
	if linkExists(ctx, l.user, name) {
		t.Errorf("wg-quick down left link %s", name)
	}
	waitDaemonGone(ctx, t, pid, name)
	if after := routingState(t, l.user); after != before {
		t.Errorf("wg-quick down did not restore routing exactly.\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if live := liveProcesses(ctx, l.user); len(live) > 0 {
		t.Errorf("processes left in the namespace: %v", live)
	}
}

func TestUserspaceForegroundSIGTERM(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ns := lab.Netns("fg")
	name := lab.IfName("fg")
	deleteLinkAtCleanup(t, ns, name)

	// WG_PROCESS_FOREGROUND=1 is -f: the process itself serves the device.
	p, err := ns.StartEnv([]string{"WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=verbose"}, wguBinary(t), "userspace", name)
	if err != nil {
		t.Fatal(err)
	}
	up := func() bool {
		fi, err := os.Stat(socketPath(name))
		return err == nil && fi.Mode()&os.ModeSocket != 0 && linkExists(ctx, ns, name)
	}
	if err := waitFor(ctx, "socket and link", func() bool { return up() || isDone(p) }); err != nil || isDone(p) {
		t.Fatalf("%v (exited: %v)\nstderr: %s", err, isDone(p), p.Stderr())
	}
	if dump := ns.MustRun("wg", "show", name, "dump"); !strings.HasPrefix(dump, "(none)\t(none)\t") {
		t.Errorf("fresh device is not unconfigured:\n%s", dump)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("after SIGTERM: %v\nstderr: %s", err, p.Stderr())
	}
	if linkExists(ctx, ns, name) {
		t.Errorf("link %s outlived its process", name)
	}
	if left := leftovers(name); len(left) > 0 {
		t.Errorf("left %v in %s", left, wgRunDir)
	}
	// LOG_LEVEL=verbose shows wireguard-go's own debug lines.
	if !strings.Contains(p.Stderr(), "UAPI socket listening") {
		t.Errorf("LOG_LEVEL=verbose logged no debug lines:\n%s", p.Stderr())
	}
}
