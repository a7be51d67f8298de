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

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/tunnel"
)

// Issue 3's lab: a wgu hub on a kernel TUN in namespace "hub", and a
// rootless spoke in namespace "spoke": wgu runs there as nobody (uid 65534)
// with no capabilities, and /dev/net/tun does not exist for it, so it must
// run on its netstack.
var (
	rlHubLink   = netip.MustParsePrefix("172.29.0.1/24")
	rlSpokeLink = netip.MustParsePrefix("172.29.0.2/24")
	rlSpokeWG   = netip.MustParseAddr("10.0.0.4")
)

// nobody is the unprivileged user the rootless spoke runs as.
const nobody = "65534"

type rootlessLab struct {
	lab        *Lab
	hub, spoke *Netns
	hubIf      string
	spokeIf    string
	dir        string // config and run directory, owned by nobody
	runDir     string
	spokeConf  string
	proc       *Proc // the spoke's `wgu up -f`
}

// spokeServices are the service sections of the rootless spoke's config.
const spokeServices = `
[Socks5]
BindAddress = 127.0.0.1:1080

[http]
BindAddress = 127.0.0.1:8080

[TCPClientTunnel]
BindAddress = 127.0.0.1:5001
Target = 10.0.0.1:5001

[TCPClientTunnel]
BindAddress = 127.0.0.1:5004
Target = 10.0.0.1:5004

[TCPServerTunnel]
ListenPort = 5002
Target = 127.0.0.1:5002

[UDPProxyTunnel]
BindAddress = 127.0.0.1:5003
Target = 10.0.0.1:5003
`

// newRootlessLab brings up the TUN hub and the rootless spoke and waits
// until the spoke's tunnel works.
func newRootlessLab(t *testing.T, ctx context.Context) *rootlessLab {
	t.Helper()
	RequireE2E(t)
	for _, tool := range []string{"setpriv", "unshare", "curl"} {
		if reason := MissingPrerequisite(tool); reason != "" {
			skipOrFail(t, reason)
		}
	}
	lab := NewLab(t)
	r := &rootlessLab{lab: lab, hub: lab.Netns("hub"), spoke: lab.Netns("spoke"),
		hubIf: lab.IfName("hub"), spokeIf: lab.IfName("spoke")}
	lab.Link(r.hub, r.spoke, rlHubLink, rlSpokeLink)
	hubKey, spokeKey := newKeyPair(t), newKeyPair(t)

	dir, err := os.MkdirTemp("", "wgu-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r.dir, r.runDir = dir, filepath.Join(dir, "run")
	if err := os.Mkdir(r.runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	hubConf := writeConfig(t, t.TempDir(), r.hubIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d

[Peer]
PublicKey = %s
AllowedIPs = %s/32
`, hubKey.Private, hubWG, hubPort, spokeKey.Public, rlSpokeWG))
	r.spokeConf = writeConfig(t, dir, r.spokeIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
DNS = %s

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 10.0.0.0/24
PersistentKeepalive = 25
`, spokeKey.Private, rlSpokeWG, hubWG, hubKey.Public, rlHubLink.Addr(), hubPort)+spokeServices)
	for _, p := range []string{dir, r.runDir, r.spokeConf} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	wguUp(ctx, t, r.hub, hubConf)
	r.proc = r.startRootless(t, "up", "-f", "--run-dir", r.runDir, "-c", r.spokeConf)
	t.Cleanup(func() {
		r.proc.Signal(syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.proc.Wait(ctx)
	})
	sock := filepath.Join(r.runDir, r.spokeIf+".sock")
	if err := waitFor(ctx, "the rootless spoke's socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil || isDone(r.proc)
	}); err != nil || isDone(r.proc) {
		t.Fatalf("rootless wgu did not come up (%v)\nstderr: %s", err, r.proc.Stderr())
	}
	if err := r.hub.Ping(ctx, rlSpokeWG); err != nil {
		t.Fatalf("%v\nspoke stderr: %s%s", err, r.proc.Stderr(), daemonLog(r.hubIf))
	}
	return r
}

func isDone(p *Proc) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// rootlessArgs wraps args so they run as nobody with no capabilities, in a
// mount namespace where /dev/net is an empty tmpfs (no /dev/net/tun).
func rootlessArgs(args ...string) []string {
	const script = `mount -t tmpfs none /dev/net && exec setpriv --reuid ` + nobody + ` --regid ` + nobody +
		` --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"`
	return append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"}, args...)
}

// startRootless starts wgu with args as nobody in the spoke namespace.
func (r *rootlessLab) startRootless(t *testing.T, args ...string) *Proc {
	t.Helper()
	p, err := r.spoke.StartEnv([]string{"LOG_LEVEL=verbose"}, rootlessArgs(append([]string{wguBinary(t)}, args...)...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runRootless runs wgu with args as nobody in the spoke namespace.
func (r *rootlessLab) runRootless(ctx context.Context, t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return r.spoke.Run(ctx, rootlessArgs(append([]string{wguBinary(t)}, args...)...)...)
}

// startHelper runs a helper mode of the test binary in ns and waits until
// it is listening.
func startHelper(t *testing.T, ctx context.Context, ns *Netns, mode, addr string, env ...string) *Proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ns.StartEnv(append([]string{helperEnv + "=" + mode, helperAddrEnv + "=" + addr}, env...), exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitOutput(ctx, "listening"); err != nil {
		t.Fatal(err)
	}
	return p
}

// runHelperClient runs a client helper mode in ns and fails t unless it
// prints "ok".
func runHelperClient(t *testing.T, ctx context.Context, ns *Netns, mode, addr string, env ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"env", helperEnv + "=" + mode, helperAddrEnv + "=" + addr}, env...)
	out, errOut, err := ns.Run(ctx, append(args, exe)...)
	if err != nil || !strings.HasPrefix(out, "ok") {
		t.Fatalf("%s helper via %s: %v\nstdout: %s\nstderr: %s", mode, addr, err, out, errOut)
	}
	return out
}

func TestRootlessModeChosen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := newRootlessLab(t, ctx)
	if !strings.Contains(r.proc.Stderr(), "using netstack") {
		t.Errorf("no log line says why netstack was chosen:\n%s", r.proc.Stderr())
	}
	for _, suffix := range []string{".sock", ".wgu"} {
		fi, err := os.Stat(filepath.Join(r.runDir, r.spokeIf+suffix))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
			t.Errorf("%s: mode %v uid %d, want 0600 owned by nobody", suffix, fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid)
		}
	}
	// wireguard-tools' wg reads a rootless tunnel too (as its owner).
	out, errOut, err := r.spoke.Run(ctx, rootlessArgs("env", "WG_COLOR_MODE=never", "wg", "show", r.spokeIf)...)
	if err == nil {
		t.Logf("wg show as nobody:\n%s", out)
	} else {
		// wg only looks in /var/run/wireguard; that is fine, wgu show finds both.
		t.Logf("wg show as nobody: %v %s", err, errOut)
	}
}

func TestRootlessSOCKS5AndHTTPProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := newRootlessLab(t, ctx)
	const body = "served on the hub's tunnel address"
	startHelper(t, ctx, r.hub, "http", netip.AddrPortFrom(hubWG, 80).String(), helperAnswerEnv+"="+body)
	startHelper(t, ctx, r.hub, "dns", netip.AddrPortFrom(hubWG, 53).String(), helperAnswerEnv+"="+hubWG.String())

	// The name exists only in the hub's DNS: it must be resolved through the tunnel.
	for _, proxy := range [][]string{
		{"--socks5-hostname", "127.0.0.1:1080"},
		{"--proxy", "http://127.0.0.1:8080"},
	} {
		args := append([]string{"curl", "-sS", "--max-time", "20"}, proxy...)
		out, errOut, err := r.spoke.Run(ctx, append(args, "http://web.wgu.test/")...)
		if err != nil || out != body {
			t.Errorf("curl %v: %v: got %q\n%s", proxy, err, out, errOut)
		}
	}
}

func TestRootlessTCPForwardAndExpose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := newRootlessLab(t, ctx)
	const size = 16 << 20
	// [TCPClientTunnel]: spoke's 127.0.0.1:5001 -> hub's 10.0.0.1:5001.
	if err := startTransferVia(t, ctx, r.spoke, r.hub, "127.0.0.1:5001", netip.AddrPortFrom(hubWG, 5001).String(), size, 0).check(ctx); err != nil {
		t.Fatalf("spoke -> hub through the forward: %v", err)
	}
	// [TCPServerTunnel]: hub dials 10.0.0.4:5002 -> the spoke's 127.0.0.1:5002.
	if err := startTransferVia(t, ctx, r.hub, r.spoke, netip.AddrPortFrom(rlSpokeWG, 5002).String(), "127.0.0.1:5002", size, 0).check(ctx); err != nil {
		t.Fatalf("hub -> spoke through the exposed port: %v", err)
	}
}

func TestRootlessUDP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := newRootlessLab(t, ctx)
	startHelper(t, ctx, r.hub, "udpecho", netip.AddrPortFrom(hubWG, 5003).String())
	runHelperClient(t, ctx, r.spoke, "udpclient", "127.0.0.1:5003")
	runHelperClient(t, ctx, r.spoke, "socks5udp", "127.0.0.1:1080", helperTargetEnv+"="+netip.AddrPortFrom(hubWG, 5003).String())
}

func TestRootlessPing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := newRootlessLab(t, ctx)
	// The hub pinging the spoke's tunnel address already happened in the
	// lab's setup; check it again with several packets.
	out := r.hub.MustRun("ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", rlSpokeWG.String())
	if !strings.Contains(out, "3 received") {
		t.Errorf("hub -> spoke ping:\n%s", out)
	}
	out, errOut, err := r.runRootless(ctx, t, "ping", "-c", "3", "-i", "200ms", "--run-dir", r.runDir, "-I", r.spokeIf, hubWG.String())
	if err != nil || !strings.Contains(out, "3 packets transmitted, 3 received, 0% packet loss") {
		t.Errorf("wgu ping: %v\n%s%s", err, out, errOut)
	}
	// Without -I, the only running interface is chosen.
	if out, errOut, err := r.runRootless(ctx, t, "ping", "-c", "1", "--run-dir", r.runDir, hubWG.String()); err != nil {
		t.Errorf("wgu ping without -I: %v\n%s%s", err, out, errOut)
	}
	// An address nobody has: loss, exit status 1.
	out, _, err = r.runRootless(ctx, t, "ping", "-c", "2", "-W", "300ms", "-i", "100ms", "--run-dir", r.runDir, "10.0.0.77")
	if err == nil || !strings.Contains(out, "100% packet loss") {
		t.Errorf("ping to a missing address: %v\n%s", err, out)
	}
}

func TestRootlessConcurrentStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	r := newRootlessLab(t, ctx)
	startHelper(t, ctx, r.hub, "echo", netip.AddrPortFrom(hubWG, 5004).String())

	info := func() *daemon.Reply {
		t.Helper()
		cl, err := daemon.Dial(ctx, r.runDir, r.spokeIf)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		rep, err := cl.Do(daemon.Request{Op: "info"})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	before := info()
	if before.Mode != string(tunnel.ModeNetstack) || len(before.Services) != 6 {
		t.Errorf("info = mode %q, services %q; want netstack and 6 services", before.Mode, before.Services)
	}
	out := runHelperClient(t, ctx, r.spoke, "streams", "127.0.0.1:5004", helperStreamsEnv+"=64", helperForEnv+"=20s")
	t.Log(strings.TrimSpace(out))
	var after int
	err := waitFor(ctx, "goroutines back to baseline", func() bool {
		after = info().Goroutines
		return after <= before.Goroutines
	})
	if err != nil {
		t.Errorf("goroutines: %d before the streams, %d after they closed", before.Goroutines, after)
	}
}

func TestRootlessSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := newRootlessLab(t, ctx)
	if err := r.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.proc.Wait(ctx); err != nil {
		t.Fatalf("wgu up -f after SIGTERM: %v\n%s", err, r.proc.Stderr())
	}
	entries, _ := os.ReadDir(r.runDir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".log") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if out, _, err := r.spoke.Run(ctx, "pgrep", "-f", "--", r.spokeConf); err == nil {
		t.Errorf("processes left: %s", out)
	}
}

func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// The demo needs no lab: no root, loopback only.
	cmd := commandContext(ctx, wguBinary(t), "demo")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wgu demo: %v\n%s", err, out)
	}
	for _, want := range []string{"reply from 10.0.0.1", "Hello from the home lab", "transfer:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
