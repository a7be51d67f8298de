// Package e2e runs the built wgu binary in network namespaces it creates,
// and offers the namespace lab it uses (Lab, Netns, Proc) to the benchmarks.
//
// A Lab belongs to one test: everything it creates carries a per-lab prefix
// and is removed by the test's cleanup, also when the test fails.
//
// Running the tests needs root, /dev/net/tun, iproute2, nftables and
// wireguard-tools; without them they skip, unless WGU_E2E=required (CI),
// which turns the skip into a failure. TestMain builds ../cmd/wgu once, or
// tests the binary named by WGU_BIN:
//
//	sudo WGU_E2E=required go test -count=1 ./e2e
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MaxIfNameLen is Linux's limit on interface names (IFNAMSIZ-1).
const MaxIfNameLen = 15

// wgRunDir is the global socket directory of wireguard-tools: it is not per
// network namespace, so lab cleanup also removes its own entries there.
const wgRunDir = "/var/run/wireguard"

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/var/run/netns"

// cleanupTimeout bounds the whole teardown of one lab.
const cleanupTimeout = 20 * time.Second

// Lab is a set of network namespaces, links and processes made for one test.
type Lab struct {
	tb     Reporter
	prefix string

	mu     sync.Mutex
	netns  []*Netns
	links  []*Link
	procs  []*Proc
	closed bool
}

// Netns is a named network namespace of a Lab.
type Netns struct {
	lab  *Lab
	Name string // the `ip netns` name, prefixed
	Role string // the short name the test gave it
}

// Link is a veth pair between two namespaces.
type Link struct {
	A, B         *Netns
	AIf, BIf     string // interface names inside A and B
	AAddr, BAddr netip.Prefix
}

// NewLab makes an empty lab with a fresh prefix and registers its cleanup
// with tb. It skips tb (see RequireLab) where a lab cannot run.
func NewLab(tb testing.TB) *Lab {
	tb.Helper()
	RequireLab(tb)
	sweepStaleLabs()
	l := &Lab{tb: tb, prefix: uniquePrefix()}
	tb.Cleanup(l.Close)
	return l
}

// Reporter is what a Lab reports through. testing.TB is one; a program
// that is not a test supplies its own, whose Fatal and Fatalf must not
// return (they may panic, or exit after closing the lab).
type Reporter interface {
	Helper()
	Logf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// NewLabFor makes an empty lab for a program that is not a test (the
// benchmarks): r receives its failures and logs. It returns an error where a
// lab cannot run (not root, no ip, no /dev/net/tun). The caller must Close
// the lab, also on failure.
func NewLabFor(r Reporter) (*Lab, error) {
	if reason := MissingPrerequisite(); reason != "" {
		return nil, fmt.Errorf("cannot make a namespace lab: %s", reason)
	}
	sweepStaleLabs()
	return &Lab{tb: r, prefix: uniquePrefix()}, nil
}

// staleLabNetns matches the namespace names labs make: "w", the creator's
// pid modulo 10000, two letters, "-", the role.
var staleLabNetns = regexp.MustCompile(`^w([0-9]{1,4})[a-z]{2}-`)

// sweepStaleLabs removes the namespaces (and their processes) of labs
// whose test process was killed before its cleanup could run. A lab is
// stale only if no running process has a pid matching its prefix, so a
// live lab is never touched.
func sweepStaleLabs() {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	live := map[int]bool{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		var pid int
		if _, err := fmt.Sscan(p.Name(), &pid); err == nil {
			live[pid%10000] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	for _, e := range entries {
		m := staleLabNetns.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(m[1], &pid); err != nil || live[pid] {
			continue
		}
		killNetnsPIDs(ctx, e.Name())
		run(ctx, "ip", "netns", "del", e.Name())
		removeRunFiles(strings.SplitN(e.Name(), "-", 2)[0])
	}
}

// removeRunFiles removes the wireguard run directory entries (sockets,
// state, logs) of interfaces named with prefix.
func removeRunFiles(prefix string) {
	entries, _ := os.ReadDir(wgRunDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			os.Remove(filepath.Join(wgRunDir, e.Name()))
		}
	}
}

// uniquePrefix returns a short name prefix ("w" + pid digits + two random
// letters) that no existing namespace or wireguard socket uses yet.
func uniquePrefix() string {
	for {
		var b [2]byte
		rand.Read(b[:])
		const letters = "abcdefghijklmnopqrstuvwxyz"
		p := fmt.Sprintf("w%d%c%c", os.Getpid()%10000, letters[int(b[0])%26], letters[int(b[1])%26])
		if !prefixInUse(p) {
			return p
		}
	}
}

func prefixInUse(p string) bool {
	for _, dir := range []string{netnsDir, wgRunDir} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), p) {
				return true
			}
		}
	}
	return false
}

// Prefix is this lab's unique name prefix (at most 7 characters).
func (l *Lab) Prefix() string { return l.prefix }

// IfName returns a lab-unique interface name: the prefix followed by suffix.
// Use it for every wgu interface, because wgu's sockets live in a directory
// shared by all namespaces. It fails the test if the name is too long.
func (l *Lab) IfName(suffix string) string {
	l.tb.Helper()
	n := l.prefix + suffix
	if len(n) > MaxIfNameLen {
		l.tb.Fatalf("interface name %q is longer than %d characters", n, MaxIfNameLen)
	}
	return n
}

// Netns creates a namespace named by role (e.g. "hub"), with loopback up.
func (l *Lab) Netns(role string) *Netns {
	l.tb.Helper()
	n := &Netns{lab: l, Name: l.prefix + "-" + role, Role: role}
	if err := run(context.Background(), "ip", "netns", "add", n.Name); err != nil {
		l.tb.Fatalf("creating namespace %s: %v", n.Name, err)
	}
	l.mu.Lock()
	l.netns = append(l.netns, n)
	l.mu.Unlock()
	n.MustRun("ip", "link", "set", "lo", "up")
	return n
}

// Link connects a and b with a veth pair, gives each end its address and
// brings both up. Inside a the interface is named after b and vice versa.
func (l *Lab) Link(a, b *Netns, aAddr, bAddr netip.Prefix) *Link {
	l.tb.Helper()
	l.mu.Lock()
	idx := len(l.links)
	l.mu.Unlock()
	lk := &Link{
		A: a, B: b, AAddr: aAddr, BAddr: bAddr,
		AIf: vethName(idx, b.Role), BIf: vethName(idx, a.Role),
	}
	// Create both ends right in their namespaces, so nothing ever appears
	// in the host's namespace.
	if err := run(context.Background(), "ip", "link", "add", lk.AIf, "netns", a.Name,
		"type", "veth", "peer", "name", lk.BIf, "netns", b.Name); err != nil {
		l.tb.Fatalf("creating veth %s-%s: %v", a.Name, b.Name, err)
	}
	l.mu.Lock()
	l.links = append(l.links, lk)
	l.mu.Unlock()
	for _, end := range []struct {
		ns   *Netns
		ifn  string
		addr netip.Prefix
	}{{a, lk.AIf, aAddr}, {b, lk.BIf, bAddr}} {
		if end.addr.IsValid() {
			end.ns.MustRun("ip", "addr", "add", end.addr.String(), "dev", end.ifn)
		}
		end.ns.MustRun("ip", "link", "set", end.ifn, "up")
	}
	l.waitSettled(a, lk.AIf)
	l.waitSettled(b, lk.BIf)
	return lk
}

// waitSettled waits until the veth end ifn in ns has its carrier and no
// route through it is flagged linkdown. The kernel turns the carrier on in
// its link-watch work, some time after both ends are up; until then the
// routes of the end brought up first say "linkdown". A test that snapshots
// the host's routes right after Link (to compare them with what `down`
// leaves) must not see that transient: TestDownAfterCrash failed once with
// "before" and "after" differing only in that flag.
func (l *Lab) waitSettled(ns *Netns, ifn string) {
	l.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	disabled, _, err := ns.Run(ctx, "cat", "/proc/sys/net/ipv6/conf/"+ifn+"/disable_ipv6")
	ipv6 := err == nil && strings.TrimSpace(disabled) == "0"
	var last string
	settled := func() bool {
		link, _, err := ns.Run(ctx, "ip", "-o", "link", "show", "dev", ifn)
		if err != nil || !strings.Contains(link, "LOWER_UP") || !strings.Contains(link, "state UP") {
			last = link
			return false
		}
		for _, family := range []string{"-4", "-6"} {
			routes, _, err := ns.Run(ctx, "ip", family, "route", "show", "table", "all", "dev", ifn)
			if err != nil || strings.Contains(routes, "linkdown") {
				last = routes
				return false
			}
			// IPv6 configures a link (its multicast route among
			// others) only once the carrier is on, in the same
			// link-watch work.
			if family == "-6" && ipv6 && !strings.Contains(routes, "ff00::/8") {
				last = routes
				return false
			}
		}
		return true
	}
	for !settled() {
		select {
		case <-ctx.Done():
			l.tb.Fatalf("veth %s in %s did not settle: %v\n%s", ifn, ns.Role, ctx.Err(), last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// vethName names a veth end after the namespace at its other end.
func vethName(idx int, peerRole string) string {
	n := fmt.Sprintf("v%d-%s", idx, peerRole)
	if len(n) > MaxIfNameLen {
		n = n[:MaxIfNameLen]
	}
	return n
}

// linkBetween returns the first link joining a and b, with a as its A side.
func (l *Lab) linkBetween(a, b *Netns) (*Link, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, lk := range l.links {
		switch {
		case lk.A == a && lk.B == b:
			return lk, true
		case lk.A == b && lk.B == a:
			return &Link{A: a, B: b, AIf: lk.BIf, BIf: lk.AIf, AAddr: lk.BAddr, BAddr: lk.AAddr}, true
		}
	}
	return nil, false
}

// NAT makes router a masquerading gateway for inside. Links router–inside
// and router–each outside namespace must exist already. The router gets
// ip_forward=1 and an nftables table "ip nat" that masquerades everything
// leaving towards the outside namespaces (towards anything but inside when
// none are given); inside gets its default route via the router.
func (l *Lab) NAT(router, inside *Netns, outside ...*Netns) {
	l.tb.Helper()
	in, ok := l.linkBetween(router, inside)
	if !ok {
		l.tb.Fatalf("NAT: no link between %s and %s", router.Role, inside.Role)
	}
	var rule strings.Builder
	rule.WriteString("add table ip nat\n")
	rule.WriteString("add chain ip nat postrouting { type nat hook postrouting priority srcnat; policy accept; }\n")
	if len(outside) == 0 {
		fmt.Fprintf(&rule, "add rule ip nat postrouting oifname != %q masquerade\n", in.AIf)
	}
	for _, o := range outside {
		out, ok := l.linkBetween(router, o)
		if !ok {
			l.tb.Fatalf("NAT: no link between %s and %s", router.Role, o.Role)
		}
		fmt.Fprintf(&rule, "add rule ip nat postrouting oifname %q masquerade\n", out.AIf)
	}
	router.MustRun("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	router.MustRunStdin(rule.String(), "nft", "-f", "-")
	inside.MustRun("ip", "route", "replace", "default", "via", in.AAddr.Addr().String(), "dev", in.BIf)
}

// Close kills the lab's processes, every process left in its namespaces,
// deletes the namespaces (and with them the veths) and removes the lab's
// wireguard sockets and files. NewLab registers it as a cleanup; calling
// it again does nothing.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	procs, namespaces := l.procs, l.netns
	l.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	for _, p := range procs {
		p.kill()
	}
	for _, n := range namespaces {
		// Daemons (wgu up detaches into a process group of its own) escape our process
		// groups but not their namespace.
		killNetnsPIDs(ctx, n.Name)
		if err := run(ctx, "ip", "netns", "del", n.Name); err != nil {
			l.tb.Logf("lab cleanup: deleting namespace %s: %v", n.Name, err)
		}
	}
	removeRunFiles(l.prefix)
}

// killNetnsPIDs SIGKILLs every process in namespace name and waits (a
// little) for them to go.
func killNetnsPIDs(ctx context.Context, name string) {
	for attempt := 0; attempt < 50; attempt++ {
		out, err := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output()
		if err != nil {
			return
		}
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return
		}
		for _, s := range pids {
			var pid int
			if _, err := fmt.Sscan(s, &pid); err == nil && pid > 1 && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Command returns a command that runs args inside the namespace.
func (n *Netns) Command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// Run runs args inside the namespace and returns its output. err is
// non-nil (an *exec.ExitError for a non-zero exit) when the command failed.
func (n *Netns) Run(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return n.RunStdin(ctx, "", args...)
}

// RunStdin is Run with stdin as the command's standard input.
func (n *Netns) RunStdin(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd := n.Command(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	// A killed command must not leave grandchildren holding the pipes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %s: %w", n.Role, strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), err
}

// MustRun runs args in the namespace (bounded by a minute) and fails the
// test if the command fails; it returns stdout.
func (n *Netns) MustRun(args ...string) string {
	n.lab.tb.Helper()
	return n.MustRunStdin("", args...)
}

// MustRunStdin is MustRun with standard input.
func (n *Netns) MustRunStdin(stdin string, args ...string) string {
	n.lab.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := n.RunStdin(ctx, stdin, args...)
	if err != nil {
		n.lab.tb.Fatalf("%v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	return out
}

// Ping waits until addr answers a ping from this namespace, or ctx ends.
func (n *Netns) Ping(ctx context.Context, addr netip.Addr) error {
	var last error
	for {
		out, errOut, err := n.Run(ctx, "ping", "-n", "-c", "1", "-W", "1", addr.String())
		if err == nil {
			return nil
		}
		last = fmt.Errorf("%w\n%s%s", err, out, errOut)
		select {
		case <-ctx.Done():
			return fmt.Errorf("ping %s from %s: %w (last: %v)", addr, n.Role, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// MustPing is Ping with a timeout that fails the test.
func (n *Netns) MustPing(addr netip.Addr, timeout time.Duration) {
	n.lab.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := n.Ping(ctx, addr); err != nil {
		n.lab.tb.Fatal(err)
	}
}

// Start runs args in the background inside the namespace, in its own
// process group. The lab kills the group at cleanup.
func (n *Netns) Start(args ...string) *Proc {
	n.lab.tb.Helper()
	p, err := n.StartEnv(nil, args...)
	if err != nil {
		n.lab.tb.Fatal(err)
	}
	return p
}

// StartEnv is Start with extra environment variables ("K=V").
func (n *Netns) StartEnv(env []string, args ...string) (*Proc, error) {
	p := &Proc{Args: args, done: make(chan struct{})}
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	n.lab.mu.Lock()
	defer n.lab.mu.Unlock()
	if n.lab.closed {
		return nil, errors.New("lab is closed")
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: starting %s: %w", n.Role, strings.Join(args, " "), err)
	}
	p.cmd = cmd
	n.lab.procs = append(n.lab.procs, p)
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Proc is a background process started in a namespace.
type Proc struct {
	Args           []string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error
}

// Pid is the process id (of `ip netns exec`, which execs the command).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return syscall.Kill(p.Pid(), sig) }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit or ctx to end, and returns its error.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s: %w", strings.Join(p.Args, " "), ctx.Err())
	}
}

// Stdout is what the process has written to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr is what the process has written to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// WaitOutput waits until the process's stdout contains s.
func (p *Proc) WaitOutput(ctx context.Context, s string) error {
	for !strings.Contains(p.Stdout(), s) {
		select {
		case <-p.done:
			if strings.Contains(p.Stdout(), s) {
				return nil
			}
			return fmt.Errorf("%s exited (%v) before printing %q; stderr: %s", strings.Join(p.Args, " "), p.err, s, p.Stderr())
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q from %s: %w", s, strings.Join(p.Args, " "), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// kill SIGKILLs the process group and waits briefly for the exit.
func (p *Proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.Pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs a host command (outside any lab namespace).
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
