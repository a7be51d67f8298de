package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 11's crash lab: a full-tunnel spoke whose tunnel goes to a hub that
// routes on to an "internet" namespace; without the tunnel, the spoke
// reaches the internet namespace in the clear, through the hub's underlay.
var (
	crashInet     = netip.MustParsePrefix("198.51.100.2/24")
	crashInetGW   = netip.MustParsePrefix("198.51.100.1/24")
	crashSpokePub = netip.MustParsePrefix("172.31.0.2/24")
)

type crashLab struct {
	lab                 *Lab
	hub, spoke, inet    *Netns
	hubIf, spokeIf      string
	hubConf, spokeConf  string
	spokeBefore, hubDir string
}

// newCrashLab builds the lab, brings the hub up and records the spoke's
// host state before its tunnel exists.
func newCrashLab(t *testing.T, ctx context.Context) *crashLab {
	t.Helper()
	RequireE2E(t)
	lab := NewLab(t)
	c := &crashLab{lab: lab, hub: lab.Netns("hub"), spoke: lab.Netns("spoke"), inet: lab.Netns("inet"),
		hubIf: lab.IfName("hub"), spokeIf: lab.IfName("spoke")}
	lab.Link(c.hub, c.spoke, hubPublic, crashSpokePub)
	lab.Link(c.hub, c.inet, crashInetGW, crashInet)
	c.hub.MustRun("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	c.spoke.MustRun("ip", "route", "add", "default", "via", hubPublic.Addr().String())
	c.inet.MustRun("ip", "route", "add", "default", "via", crashInetGW.Addr().String())

	dir := t.TempDir()
	hubKey, spokeKey := newKeyPair(t), newKeyPair(t)
	c.hubConf = writeConfig(t, dir, c.hubIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24, fd00::1/64
ListenPort = %d

[Peer]
PublicKey = %s
AllowedIPs = %s/32, fd00::2/128
`, hubKey.Private, hubWG, hubPort, spokeKey.Public, homelabWG))
	c.spokeConf = writeConfig(t, dir, c.spokeIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24, fd00::2/64

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 1
`, spokeKey.Private, homelabWG, hubKey.Public, hubPublic.Addr(), hubPort))
	wguUp(ctx, t, c.hub, c.hubConf)
	c.spokeBefore = hostState(t, c.spoke)
	return c
}

// hostState is routingState plus the sysctls `up` may change.
func hostState(t testing.TB, ns *Netns) string {
	t.Helper()
	return routingState(t, ns) + "# sysctl\n" +
		ns.MustRun("sysctl", "-a", "-r", `^net\.ipv[46]\.(conf\.(all|default)\.|ip_forward)`)
}

// killDaemon kill -9s the daemon of interface name and waits for it to die
// and for its TUN to go (the thread group leader shows as a zombie while
// the other threads, holding the TUN open, may still be exiting).
func killDaemon(ctx context.Context, t *testing.T, ns *Netns, name string) {
	t.Helper()
	pid := daemonPID(ctx, t, ns, name)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing daemon %d: %v", pid, err)
	}
	if err := waitFor(ctx, "the daemon and its TUN to go", func() bool {
		_, _, err := ns.Run(ctx, "ip", "link", "show", name)
		return processGone(pid) && err != nil
	}); err != nil {
		t.Fatal(err)
	}
}

// countLines counts the lines of out that contain s.
func countLines(out, s string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// Crash and restart, as Restart=on-failure does it: every `up` after a
// kill -9 takes over what its dead predecessor left, so one `down` at the
// end restores the host exactly.
func TestCrashRestartLeavesHostAsBefore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	c := newCrashLab(t, ctx)
	wguUp(ctx, t, c.spoke, c.spokeConf)
	for cycle := 1; cycle <= 3; cycle++ {
		killDaemon(ctx, t, c.spoke, c.spokeIf)
		mustWgu(ctx, t, c.spoke, "up", "-c", c.spokeConf)
		for _, family := range []string{"-4", "-6"} {
			rules := c.spoke.MustRun("ip", family, "rule")
			if n := countLines(rules, "suppress_prefixlength 0"); n != 1 {
				t.Errorf("cycle %d: ip %s rule has %d suppress_prefixlength rules, want 1:\n%s", cycle, family, n, rules)
			}
			if n := countLines(rules, "lookup 51820"); n != 1 {
				t.Errorf("cycle %d: ip %s rule has %d rules for table 51820, want 1:\n%s", cycle, family, n, rules)
			}
		}
		if err := c.spoke.Ping(ctx, hubWG); err != nil {
			t.Fatalf("cycle %d: %v%s", cycle, err, daemonLog(c.spokeIf))
		}
	}
	mustWgu(ctx, t, c.spoke, "down", c.spokeIf)
	if after := hostState(t, c.spoke); after != c.spokeBefore {
		t.Errorf("one down after 3 crash/restart cycles did not restore the host.\nbefore:\n%s\nafter:\n%s", c.spokeBefore, after)
	}
	if left := leftovers(c.spokeIf); len(left) > 0 {
		t.Errorf("left %v in %s", left, wgRunDir)
	}
	if _, errOut, err := wgu(ctx, t, c.spoke, "down", c.spokeIf); err == nil {
		t.Errorf("a second down succeeded; want `not a WireGuard interface`")
	} else if !strings.Contains(errOut, "not a WireGuard interface") {
		t.Errorf("second down: %v\n%s", err, errOut)
	}
}

// While a full-tunnel daemon is dead, nothing that went through the tunnel
// leaves in the clear; `down` lifts the kill switch.
func TestKillSwitchWhileDaemonDead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	c := newCrashLab(t, ctx)
	startHelper(t, ctx, c.inet, "http", netip.AddrPortFrom(crashInet.Addr(), 8080).String(), helperAnswerEnv+"=hello")
	url := fmt.Sprintf("http://%s/", netip.AddrPortFrom(crashInet.Addr(), 8080))
	curl := func() (string, error) {
		out, errOut, err := c.spoke.Run(ctx, "curl", "-sS", "-m", "3", url)
		return out + errOut, err
	}
	ping := func() error {
		_, _, err := c.spoke.Run(ctx, "ping", "-n", "-c", "2", "-W", "1", crashInet.Addr().String())
		return err
	}

	wguUp(ctx, t, c.spoke, c.spokeConf)
	if err := c.spoke.Ping(ctx, crashInet.Addr()); err != nil {
		t.Fatalf("through the tunnel: %v%s", err, daemonLog(c.spokeIf))
	}
	if out, err := curl(); err != nil || out != "hello" {
		t.Fatalf("HTTP through the tunnel: %v: %s", err, out)
	}

	killDaemon(ctx, t, c.spoke, c.spokeIf)
	if err := ping(); err == nil {
		t.Errorf("with the daemon dead, ping %s went out in the clear", crashInet.Addr())
	}
	if out, err := curl(); err == nil {
		t.Errorf("with the daemon dead, HTTP to %s went out in the clear: %s", url, out)
	}
	// The kill switch is not the tunnel's: the underlay stays usable.
	if _, _, err := c.spoke.Run(ctx, "ping", "-n", "-c", "1", "-W", "1", hubPublic.Addr().String()); err != nil {
		t.Errorf("the directly connected hub is unreachable with the daemon dead: %v", err)
	}

	mustWgu(ctx, t, c.spoke, "down", c.spokeIf)
	if err := ping(); err != nil {
		t.Errorf("after down, ping %s: %v", crashInet.Addr(), err)
	}
	if out, err := curl(); err != nil || out != "hello" {
		t.Errorf("after down, HTTP: %v: %s", err, out)
	}
	if after := hostState(t, c.spoke); after != c.spokeBefore {
		t.Errorf("down did not restore the host.\nbefore:\n%s\nafter:\n%s", c.spokeBefore, after)
	}
}

// Ctrl-C (SIGINT to the process group) while PostUp runs: up undoes
// everything it did and no hook keeps running.
func TestInterruptDuringUp(t *testing.T) {
	for _, fg := range []bool{false, true} {
		name := "background"
		if fg {
			name = "foreground"
		}
		t.Run(name, func(t *testing.T) { testInterruptDuringUp(t, fg) })
	}
}

func testInterruptDuringUp(t *testing.T, foreground bool) {
	RequireE2E(t)
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	host, other := lab.Netns("host"), lab.Netns("other")
	lab.Link(host, other, crashSpokePub, hubPublic)
	name := lab.IfName("int")
	k, peer := newKeyPair(t), newKeyPair(t)
	const hook = "sleep 31 & sleep 30"
	path := writeConfig(t, dir, name, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.2/24
ListenPort = %d
PostUp = %s

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 0.0.0.0/0
`, k.Private, hubPort, hook, peer.Public, hubPublic.Addr(), hubPort))
	links, before := linkNames(t, host), hostState(t, host)

	args := []string{wguBinary(t), "up", "-c", path}
	if foreground {
		args = []string{wguBinary(t), "up", "-f", "-c", path}
	}
	p := host.Start(args...)
	if err := waitFor(ctx, "PostUp to run", func() bool {
		return strings.Contains(strings.Join(liveProcesses(ctx, host), "\n"), "sleep 30") || isDone(p)
	}); err != nil || isDone(p) {
		t.Fatalf("PostUp did not start (%v); stderr: %s", err, p.Stderr())
	}
	// What the terminal does on Ctrl-C.
	if err := syscall.Kill(-p.Pid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := p.Wait(wctx); err == nil {
		t.Errorf("wgu up succeeded although interrupted; stderr: %s", p.Stderr())
	} else if strings.Contains(err.Error(), "waiting for") {
		t.Fatalf("wgu up did not exit after SIGINT: %v; stderr: %s", err, p.Stderr())
	}
	var live []string
	if waitFor(wctx, "no processes in the namespace", func() bool {
		live = liveProcesses(ctx, host)
		return len(live) == 0
	}) != nil {
		t.Errorf("processes left running: %v", live)
	}
	if got := linkNames(t, host); got != links {
		t.Errorf("links after the interrupted up: %s, were %s", got, links)
	}
	if after := hostState(t, host); after != before {
		t.Errorf("the interrupted up left host changes.\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if left := leftovers(name); len(left) > 0 {
		t.Errorf("left %v in %s", left, wgRunDir)
	}
	if _, err := os.Stat(filepath.Join(wgRunDir, name+".log")); err == nil {
		t.Errorf("left %s.log in %s", name, wgRunDir)
	}
}

// A ListenPort another program holds: one clear error naming the key and
// the line, and nothing left behind.
func TestListenPortInUse(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	host, other := lab.Netns("host"), lab.Netns("other")
	lab.Link(host, other, crashSpokePub, hubPublic)
	startHelper(t, ctx, host, "udpecho", fmt.Sprintf("0.0.0.0:%d", hubPort))
	name := lab.IfName("port")
	k, peer := newKeyPair(t), newKeyPair(t)
	path := writeConfig(t, dir, name, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.2/24
ListenPort = %d

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 0.0.0.0/0
`, k.Private, hubPort, peer.Public, hubPublic.Addr(), hubPort))
	links, before := linkNames(t, host), hostState(t, host)

	_, errOut, err := wgu(ctx, t, host, "up", "-c", path)
	if err == nil {
		t.Fatalf("wgu up succeeded with ListenPort %d in use", hubPort)
	}
	if want := name + ".conf:4"; !strings.Contains(errOut, want) || !strings.Contains(errOut, "ListenPort") {
		t.Errorf("the error does not name %s and ListenPort:\n%s", want, errOut)
	}
	if strings.Contains(errOut, "MTU") || strings.Contains(errOut, "ERROR") {
		t.Errorf("spurious error output:\n%s", errOut)
	}
	if got := linkNames(t, host); got != links {
		t.Errorf("links changed: %s, were %s", got, links)
	}
	if after := hostState(t, host); after != before {
		t.Errorf("host changed.\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if left := leftovers(name); len(left) > 0 {
		t.Errorf("left %v in %s", left, wgRunDir)
	}
}

// A TUN hub forwards between spokes on one interface like kernel
// WireGuard: no ICMP redirects, no IPv6 link-local address.
func TestTUNHubSendsNoRedirects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	r := newHubLab(t, ctx, false)
	if err := r.a.Ping(ctx, rhWGB); err != nil {
		t.Fatal(err)
	}
	out, _, err := r.a.Run(ctx, "ping", "-n", "-c", "3", "-i", "0.3", "-W", "1", rhWGB.String())
	if err != nil {
		t.Fatalf("spoke a -> spoke b: %v\n%s", err, out)
	}
	if strings.Contains(out, "Redirect") {
		t.Errorf("the hub sent ICMP redirects:\n%s", out)
	}
	if v := strings.TrimSpace(r.hub.MustRun("sysctl", "-n", "net.ipv4.conf."+r.hubIf+".send_redirects")); v != "0" {
		t.Errorf("hub %s send_redirects = %s, want 0", r.hubIf, v)
	}
	if addrs := r.hub.MustRun("ip", "-6", "addr", "show", "dev", r.hubIf); strings.Contains(addrs, "fe80:") {
		t.Errorf("hub %s has a link-local address kernel WireGuard would not have:\n%s", r.hubIf, addrs)
	}
	mustWgu(ctx, t, r.hub, "down", r.hubIf)
	if v := strings.TrimSpace(r.hub.MustRun("sysctl", "-n", "net.ipv4.conf.all.send_redirects")); v != "1" {
		t.Errorf("after down, net.ipv4.conf.all.send_redirects = %s, want 1 as before", v)
	}
}
