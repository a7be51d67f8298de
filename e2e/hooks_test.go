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

// wg-quick runs hooks in bash; `wgu down` shows PreDown/PostDown as
// `wg-quick down` does ([#] hook, its output) and fails when one fails,
// after finishing the teardown.
func TestDownShowsHookOutputAndFailure(t *testing.T) {
	RequireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	lab := NewLab(t)
	ns := lab.Netns("host")
	name := lab.IfName("hk")
	dir := t.TempDir()
	count := filepath.Join(dir, "predown-count")
	k, peer := newKeyPair(t), newKeyPair(t)
	path := writeConfig(t, dir, name, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.1/24
ListenPort = %d
PostUp = [[ %%i == %s ]] && echo "up in bash"
PreDown = echo "pre-down ran for %%i"; echo x >> %s
PostDown = echo "post-down says goodbye"; exit 3

[Peer]
PublicKey = %s
AllowedIPs = 10.0.0.2/32
`, k.Private, hubPort, name, count, peer.Public))
	mustWgu(ctx, t, ns, "up", "-c", path)
	out, errOut, err := wgu(ctx, t, ns, "down", name)
	if err == nil {
		t.Errorf("wgu down exited 0 although PostDown failed")
	}
	for _, want := range []string{
		"[#] echo \"pre-down ran for " + name + "\"; echo x >> " + count + "\n",
		"pre-down ran for " + name + "\n",
		"[#] echo \"post-down says goodbye\"; exit 3\n",
		"post-down says goodbye\n",
		"PostDown hook",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("wgu down's stderr lacks %q:\nstdout: %s\nstderr:\n%s", want, out, errOut)
		}
	}
	if b, _ := os.ReadFile(count); string(b) != "x\n" {
		t.Errorf("PreDown ran %d times, want once", strings.Count(string(b), "x"))
	}
	// The teardown finished anyway.
	if _, _, err := ns.Run(ctx, "ip", "link", "show", name); err == nil {
		t.Errorf("%s still exists after down", name)
	}
	if left := leftovers(name); len(left) > 0 {
		t.Errorf("left in %s: %v", wgRunDir, left)
	}
	if live := liveProcesses(ctx, ns); len(live) > 0 {
		t.Errorf("processes left: %v", live)
	}
}

// Mistakes that parse but misroute are warned about at up and reload,
// naming file and line; a reload that changes hooks is refused.
func TestConfigWarningsAtUpAndReload(t *testing.T) {
	RequireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	lab := NewLab(t)
	ns := lab.Netns("host")
	name := lab.IfName("wn")
	dir := t.TempDir()
	k, a, b := newKeyPair(t), newKeyPair(t), newKeyPair(t)
	base := fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.1/24
PostUp = true

[Peer]
PublicKey = %s
Endpoint = 192.0.2.1:51820
AllowedIPs = 10.0.0.2/32, 10.9.0.0/16
`, k.Private, a.Public)
	// Line 11 is the second [Peer]: no Endpoint, and no ListenPort above;
	// line 14 repeats the first peer's 10.9.0.0/16.
	second := fmt.Sprintf(`
[Peer]
PublicKey = %s
AllowedIPs = 10.0.0.3/32
AllowedIPs = 10.9.0.0/16
`, b.Public)
	path := writeConfig(t, dir, name, base+second)
	_, errOut, err := wgu(ctx, t, ns, "up", "-c", path)
	if err != nil {
		t.Fatalf("wgu up: %v\n%s", err, errOut)
	}
	t.Cleanup(func() { wgu(context.Background(), t, ns, "down", name) })
	for _, want := range []string{
		path + ":14: AllowedIPs: 10.9.0.0/16 is also in the AllowedIPs of the [Peer] on line 6",
		path + ":11: this peer has no Endpoint and [Interface] has no ListenPort",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("wgu up's stderr lacks %q:\n%s", want, errOut)
		}
	}

	// Reload with the duplicate fixed but the handshake problem kept: one warning.
	writeConfig(t, dir, name, base+strings.Replace(second, "AllowedIPs = 10.9.0.0/16\n", "", 1))
	_, errOut, err = wgu(ctx, t, ns, "reload", name)
	if err != nil || !strings.Contains(errOut, "Warning: "+path+":11: this peer has no Endpoint") || strings.Contains(errOut, "10.9.0.0/16 is also") {
		t.Errorf("wgu reload: %v, want one warning for line 11:\n%s", err, errOut)
	}

	// A changed hook needs a restart.
	writeConfig(t, dir, name, strings.Replace(base, "PostUp = true", "PostUp = echo changed\nPreDown = true", 1))
	_, errOut, err = wgu(ctx, t, ns, "reload", name)
	if err == nil || !strings.Contains(errOut, "PostUp, PreDown changed") || !strings.Contains(errOut, "restart needed") {
		t.Errorf("reload of changed hooks: %v, want restart needed naming PostUp and PreDown:\n%s", err, errOut)
	}
	if out := ns.MustRun("wg", "show", name, "peers"); !strings.Contains(out, b.Public) {
		t.Errorf("the refused reload changed the peers:\n%s", out)
	}
}

// Addresses of the rootless hook tests: a rootless hub and a TUN spoke.
var (
	rkHubLink   = netip.MustParsePrefix("172.25.0.1/24")
	rkSpokeLink = netip.MustParsePrefix("172.25.0.2/24")
)

// rootlessHookLab is a hub namespace where wgu will run as nobody, and a
// spoke on a kernel TUN that dials it.
type rootlessHookLab struct {
	lab              *Lab
	hub, spoke       *Netns
	hubKey, spokeKey keyPair
	spokeIf          string
	dir, runDir      string
}

func newRootlessHookLab(t *testing.T) *rootlessHookLab {
	t.Helper()
	RequireE2E(t)
	for _, tool := range []string{"setpriv", "unshare"} {
		if reason := MissingPrerequisite(tool); reason != "" {
			skipOrFail(t, reason)
		}
	}
	lab := NewLab(t)
	r := &rootlessHookLab{lab: lab, hub: lab.Netns("hub"), spoke: lab.Netns("spoke"),
		hubKey: newKeyPair(t), spokeKey: newKeyPair(t), spokeIf: lab.IfName("sp")}
	lab.Link(r.hub, r.spoke, rkHubLink, rkSpokeLink)
	r.dir, r.runDir = nobodyDir(t)
	return r
}

// seedHubConfig writes testdata/seed-hub.conf, keys filled in and extra
// appended to [Interface], as NAME.conf owned by nobody.
func (r *rootlessHookLab) seedHubConfig(t *testing.T, name, extra string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/seed-hub.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("HUB_PRIVATE_KEY", r.hubKey.Private, "SPOKE_PUBLIC_KEY", r.spokeKey.Public,
		"\n[Peer]", extra+"\n[Peer]").Replace(string(b))
	path := writeConfig(t, r.dir, name, text)
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return path
}

// startHub starts `wgu up -f` for conf as nobody with wrap around it and
// waits for its socket, or for it to fail.
func (r *rootlessHookLab) startHub(t *testing.T, ctx context.Context, args []string) (*Proc, bool) {
	t.Helper()
	p, err := r.hub.StartEnv([]string{"LOG_LEVEL=verbose"}, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Signal(syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Wait(ctx)
	})
	name := strings.TrimSuffix(filepath.Base(args[len(args)-1]), ".conf")
	sock := filepath.Join(r.runDir, name+".sock")
	if err := waitFor(ctx, name+"'s socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil || isDone(p)
	}); err != nil {
		t.Fatalf("%v\nstderr: %s", err, p.Stderr())
	}
	return p, !isDone(p)
}

// pingFromSpoke brings a TUN spoke up and checks it reaches the hub.
func (r *rootlessHookLab) pingFromSpoke(t *testing.T, ctx context.Context, hub *Proc) {
	t.Helper()
	conf := writeConfig(t, t.TempDir(), r.spokeIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.2/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 10.0.0.0/24
PersistentKeepalive = 25
`, r.spokeKey.Private, r.hubKey.Public, rkHubLink.Addr(), hubPort))
	wguUp(ctx, t, r.spoke, conf)
	if err := r.spoke.Ping(ctx, hubWG); err != nil {
		t.Fatalf("%v\nhub stderr:\n%s", err, hub.Stderr())
	}
}

// In netstack mode, whether a hook only configures the host's network is
// decided from its text before it runs: not from PATH (fake sysctl and
// iptables that would succeed are not run), not from its output (a hook
// printing "permission denied" and failing fails up).
func TestRootlessHooksDecidedBeforeRunning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := newRootlessHookLab(t)
	fakeBin := filepath.Join(r.dir, "bin")
	marker := filepath.Join(r.dir, "fake-tool-ran")
	custom := filepath.Join(r.dir, "custom-hook-ran")
	if err := os.Mkdir(fakeBin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"sysctl", "iptables"} {
		if err := os.WriteFile(filepath.Join(fakeBin, tool), []byte("#!/bin/sh\necho "+tool+" >> "+marker+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	withPath := func(args ...string) []string {
		return rootlessArgs(append([]string{"env", "PATH=" + fakeBin + ":" + os.Getenv("PATH")}, args...)...)
	}
	name := r.lab.IfName("hub")
	conf := r.seedHubConfig(t, name, "PostUp = echo custom > "+custom+"\nPreDown = echo custom-pre-down\n")
	hub, up := r.startHub(t, ctx, withPath(wguBinary(t), "up", "-f", "--run-dir", r.runDir, "-c", conf))
	if !up {
		t.Fatalf("rootless seed hub did not come up:\n%s", hub.Stderr())
	}
	r.pingFromSpoke(t, ctx, hub)
	if _, err := os.Stat(custom); err != nil {
		t.Errorf("the custom PostUp did not run: %v\n%s", err, hub.Stderr())
	}
	if skipped := strings.Count(hub.Stderr(), "[-] PostUp hook skipped (netstack mode"); skipped != 2 {
		t.Errorf("%d PostUp hooks reported skipped, want 2:\n%s", skipped, hub.Stderr())
	}

	// wgu down (as nobody) runs PreDown and skips the host-network PostDown.
	out, errOut, err := r.hub.Run(ctx, withPath(wguBinary(t), "down", "--run-dir", r.runDir, name)...)
	if err != nil || !strings.Contains(errOut, "[#] echo custom-pre-down\ncustom-pre-down\n") ||
		strings.Count(errOut, "[-] PostDown hook skipped (netstack mode") != 2 {
		t.Errorf("wgu down: %v\nstdout: %s\nstderr:\n%s", err, out, errOut)
	}
	if err := hub.Wait(ctx); err != nil {
		t.Errorf("wgu up -f after down: %v", err)
	}
	if b, err := os.ReadFile(marker); err == nil {
		t.Errorf("host network tools from PATH ran: %s", b)
	}

	// A hook that fails counts, whatever it prints.
	name2 := r.lab.IfName("hub2")
	conf2 := r.seedHubConfig(t, name2, "PostUp = echo 'sysctl: permission denied on key'; false\n")
	out, errOut, err = r.hub.Run(ctx, rootlessArgs(wguBinary(t), "up", "--run-dir", r.runDir, "-c", conf2)...)
	if err == nil {
		r.hub.Run(ctx, rootlessArgs(wguBinary(t), "down", "--run-dir", r.runDir, name2)...)
		t.Fatalf("up succeeded although a PostUp failed:\n%s%s", out, errOut)
	}
	if !strings.Contains(errOut, "PostUp hook `echo 'sysctl: permission denied on key'; false' failed") {
		t.Errorf("up's error does not name the failing hook:\n%s", errOut)
	}
	if entries, _ := os.ReadDir(r.runDir); len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left in the run directory: %v", names)
	}
}

// noShellArgs is rootlessArgs in a mount namespace where bash and sh are
// not executable (an empty, non-executable file is mounted over each), as
// in a FROM scratch image.
func noShellArgs(t *testing.T, args ...string) []string {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "not-a-shell")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `mount -t tmpfs none /dev/net && ` +
		`mount --bind '` + empty + `' "$(readlink -f "$(command -v bash)")" && ` +
		`mount --bind '` + empty + `' "$(readlink -f /bin/sh)" && ` +
		`exec setpriv --reuid ` + nobody + ` --regid ` + nobody +
		` --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"`
	return append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"}, args...)
}

// With no shell at all, the seed hub config still comes up rootless: its
// host-network hooks are skipped without one. Any other hook fails up,
// saying there is no shell.
func TestRootlessSeedHubWithoutShell(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := newRootlessHookLab(t)
	if out, _, err := r.hub.Run(ctx, noShellArgs(t, "env", "bash", "-c", "echo shell")...); err == nil {
		t.Fatalf("bash still runs in the no-shell namespace: %s", out)
	}
	if out, _, err := r.hub.Run(ctx, noShellArgs(t, "/bin/sh", "-c", "echo shell")...); err == nil {
		t.Fatalf("/bin/sh still runs in the no-shell namespace: %s", out)
	}

	name := r.lab.IfName("hub")
	conf := r.seedHubConfig(t, name, "")
	hub, up := r.startHub(t, ctx, noShellArgs(t, wguBinary(t), "up", "-f", "--run-dir", r.runDir, "-c", conf))
	if !up {
		t.Fatalf("the seed hub did not come up without a shell:\n%s", hub.Stderr())
	}
	r.pingFromSpoke(t, ctx, hub)
	if err := hub.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := hub.Wait(ctx); err != nil {
		t.Errorf("wgu up -f after SIGTERM: %v\n%s", err, hub.Stderr())
	}
	if skipped := strings.Count(hub.Stderr(), "hook skipped (netstack mode"); skipped != 4 {
		t.Errorf("%d hooks reported skipped, want 4 (2 PostUp, 2 PostDown):\n%s", skipped, hub.Stderr())
	}

	name2 := r.lab.IfName("hub2")
	conf2 := r.seedHubConfig(t, name2, "PostUp = logger -t wgu hub up\n")
	out, errOut, err := r.hub.Run(ctx, noShellArgs(t, wguBinary(t), "up", "-f", "--run-dir", r.runDir, "-c", conf2)...)
	if err == nil {
		t.Fatalf("up succeeded with a hook and no shell:\n%s%s", out, errOut)
	}
	if !strings.Contains(errOut, "PostUp hook `logger -t wgu hub up' cannot run: no shell") {
		t.Errorf("up's error does not say the hook has no shell:\n%s", errOut)
	}
}
