package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A Guest is a qemu virtual machine running Linux with its own WireGuard,
// attached to a lab namespace by a tap device: to the lab it is one more
// host behind that tap. Its only network is the tap (no user-mode
// networking), and the test drives it through a shell on its serial
// console. It runs under software emulation, so it is slow: fine for
// interoperability, indicative only for speed.
type Guest struct {
	NS       *Netns
	Tap      string        // the tap device in NS
	BootTime time.Duration // from starting qemu to the guest's shell

	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	out     strings.Builder // the console's output, \r removed
	changed chan struct{}   // closed and replaced on every output
	exited  bool
	seq     int
}

// guestReady is what the guest's /init prints before handing over the shell.
const guestReady = "WGU-GUEST-READY"

// guestBootTimeout bounds booting under software emulation on a busy host.
const guestBootTimeout = 90 * time.Second

// StartGuest creates tap in ns (up, without addresses) and boots img on
// it, waiting for the guest's shell. Close (or the lab's cleanup, which
// kills everything left in ns) stops it.
func StartGuest(ctx context.Context, ns *Netns, img *GuestImage, tap string) (*Guest, error) {
	if out, errOut, err := ns.Run(ctx, "ip", "tuntap", "add", "dev", tap, "mode", "tap"); err != nil {
		return nil, fmt.Errorf("creating tap %s: %w: %s%s", tap, err, out, errOut)
	}
	if out, errOut, err := ns.Run(ctx, "ip", "link", "set", tap, "up"); err != nil {
		return nil, fmt.Errorf("bringing up tap %s: %w: %s%s", tap, err, out, errOut)
	}
	g := &Guest{NS: ns, Tap: tap, changed: make(chan struct{})}
	args := []string{"qemu-system-x86_64",
		"-accel", "tcg", "-cpu", "max", "-m", "256", "-smp", "1",
		"-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
		"-kernel", img.Kernel, "-initrd", img.Initrd,
		"-append", "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init",
		"-netdev", "tap,id=lab,ifname=" + tap + ",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=lab,mac=52:54:00:77:00:02",
	}
	g.cmd = exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := g.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := g.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	g.cmd.Stderr = g.cmd.Stdout
	g.stdin = stdin
	start := time.Now()
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting qemu: %w", err)
	}
	go g.read(stdout)
	bootCtx, cancel := context.WithTimeout(ctx, guestBootTimeout)
	defer cancel()
	if _, err := g.waitFor(bootCtx, 0, regexp.MustCompile(guestReady+` [0-9.]+\n`)); err != nil {
		g.Close()
		return nil, fmt.Errorf("booting the guest: %w\nconsole:\n%s", err, g.Console())
	}
	g.BootTime = time.Since(start)
	if strings.Contains(g.Console(), "WGU-GUEST-MODULE-FAILED") {
		g.Close()
		return nil, fmt.Errorf("the guest could not load a module:\n%s", g.Console())
	}
	return g, nil
}

func (g *Guest) read(r io.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		g.mu.Lock()
		g.out.WriteString(strings.ReplaceAll(string(buf[:n]), "\r", ""))
		if err != nil {
			g.exited = true
		}
		close(g.changed)
		g.changed = make(chan struct{})
		g.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Console returns everything the guest's console printed so far.
func (g *Guest) Console() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String()
}

// waitFor waits until re matches the console output after offset from,
// and returns the match's submatches and where the match ends.
func (g *Guest) waitFor(ctx context.Context, from int, re *regexp.Regexp) ([]string, error) {
	for {
		g.mu.Lock()
		text := g.out.String()[from:]
		changed, exited := g.changed, g.exited
		g.mu.Unlock()
		if m := re.FindStringSubmatch(text); m != nil {
			return m, nil
		}
		if exited {
			return nil, errors.New("qemu exited")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// Run runs a shell script on the guest's console and returns what it
// printed. err says so when the script's last command failed. The script
// is not logged anywhere (it may hold a key); its output is returned.
func (g *Guest) Run(ctx context.Context, script string) (string, error) {
	g.mu.Lock()
	g.seq++
	id := g.seq
	from := g.out.Len()
	g.mu.Unlock()
	marker := fmt.Sprintf("__WGU_DONE_%d_", id)
	// A group keeps the shell's state (variables, background jobs);
	// the marker line carries the exit status of its last command.
	if _, err := io.WriteString(g.stdin, "{\n"+script+"\n}; echo "+marker+"$?\n"); err != nil {
		return "", fmt.Errorf("writing to the guest's console: %w", err)
	}
	re := regexp.MustCompile(`(?s)^(.*?)` + marker + `([0-9]+)\n`)
	m, err := g.waitFor(ctx, from, re)
	if err != nil {
		g.mu.Lock()
		tail := g.out.String()[from:]
		g.mu.Unlock()
		return tail, fmt.Errorf("guest: %w; output so far:\n%s", err, tail)
	}
	if rc, _ := strconv.Atoi(m[2]); rc != 0 {
		return m[1], fmt.Errorf("guest: exit status %d; output:\n%s", rc, m[1])
	}
	return m[1], nil
}

// Pid is qemu's process id (its CPU time is the guest's).
func (g *Guest) Pid() int {
	if g.cmd == nil || g.cmd.Process == nil {
		return 0
	}
	return g.cmd.Process.Pid
}

// Close stops qemu.
func (g *Guest) Close() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	done := make(chan struct{})
	go func() { g.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	g.cmd = nil
}
