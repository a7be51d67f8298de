package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 12, part 1: another local user attacks wgu through its run
// directory, the files in it, the state file and the readiness pipe. Each
// test performs the attack with the real binary.

// privateRunDir makes a 0700 directory of root's for --run-dir.
func privateRunDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wgu-trust-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// netstackConfig writes a netstack-ready config with no peer (it sends
// nothing) to dir/NAME.conf; extra is added to [Interface].
func netstackConfig(t *testing.T, dir, name, addr, extra string) string {
	t.Helper()
	return writeConfig(t, dir, name, fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = %s\n%s", newKeyPair(t).Private, addr, extra))
}

// TestTrustFallbackRunDirOfAnotherUser: without XDG_RUNTIME_DIR, a user's
// run directory is TMPDIR/wgu-UID, a name anyone can create first. wgu
// must refuse the one another user made, not put its sockets there.
func TestTrustFallbackRunDirOfAnotherUser(t *testing.T) {
	RequireE2E(t)
	if reason := MissingPrerequisite("setpriv", "unshare"); reason != "" {
		skipOrFail(t, reason)
	}
	lab := NewLab(t)
	ns := lab.Netns("trust")
	name := lab.IfName("t0")
	confDir, _ := nobodyDir(t)
	conf := netstackConfig(t, confDir, name, "10.77.0.1/24", "")
	if err := os.Chown(conf, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	tmp := privateRunDir(t)
	if err := os.Chmod(tmp, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	// The attacker (root here, any other user in life) made it first.
	planted := filepath.Join(tmp, "wgu-65534")
	if err := os.Mkdir(planted, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(planted, 0o777); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, errOut, err := ns.Run(ctx, rootlessArgs("env", "-u", "XDG_RUNTIME_DIR", "TMPDIR="+tmp,
		wguBinary(t), "up", "--mode", "netstack", "-c", conf)...)
	if err == nil {
		t.Errorf("wgu up used a run directory another user made\nstdout: %s\nstderr: %s", out, errOut)
	} else if !strings.Contains(errOut, planted) || !strings.Contains(errOut, "owned by uid 0") || !strings.Contains(errOut, "--run-dir") {
		t.Errorf("the refusal should name %s, its owner and the fix; stderr: %s", planted, errOut)
	}
	if entries, _ := os.ReadDir(planted); len(entries) > 0 {
		t.Errorf("wgu created %v in the other user's directory", entries)
	}

	// The attacker's socket there must not be taken for the user's
	// interface: `wgu set` would send it a private key.
	sock := filepath.Join(planted, name+".sock")
	os.Remove(sock) // a daemon's that went on anyway
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	ns.Run(ctx, rootlessArgs("env", "-u", "XDG_RUNTIME_DIR", "TMPDIR="+tmp, wguBinary(t), "show", name)...)
	if n := accepted.Load(); n > 0 {
		t.Errorf("wgu show connected %d times to a socket in another user's directory", n)
	}
}

// TestTrustDaemonLogSymlinkRefused plants NAME.log -> a victim's file in
// the run directory: wgu up must refuse it and leave the file alone.
func TestTrustDaemonLogSymlinkRefused(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ns := lab.Netns("trust")
	name := lab.IfName("t1")
	run := privateRunDir(t)
	conf := netstackConfig(t, t.TempDir(), name, "10.77.0.1/24", "")
	victim := filepath.Join(t.TempDir(), "bashrc")
	if err := os.WriteFile(victim, []byte("original\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(run, name+".log")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, errOut, err := wgu(ctx, t, ns, "up", "--mode", "netstack", "--run-dir", run, "-c", conf)
	if err == nil {
		wgu(ctx, t, ns, "down", "--run-dir", run, name)
		t.Errorf("wgu up accepted a symlinked log\nstdout: %s\nstderr: %s", out, errOut)
	} else if !strings.Contains(errOut, "symlink") {
		t.Errorf("the refusal should say the log is a symlink; stderr: %s", errOut)
	}
	// Give a daemon that went on anyway the time to write.
	time.Sleep(300 * time.Millisecond)
	if b, _ := os.ReadFile(victim); string(b) != "original\n" {
		t.Errorf("the victim's file was written through the symlink: %q", b)
	}
	if _, err := os.Stat(filepath.Join(run, name+".sock")); err == nil {
		t.Errorf("a socket was left after the refusal")
	}
}

// TestTrustDownSparesUnrelatedPID: the state names the PID of a process
// that is not the daemon (a PID reused after a crash, or a forged state).
// wgu down must not signal it.
func TestTrustDownSparesUnrelatedPID(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ns := lab.Netns("trust")
	for i, startTime := range []string{"", `, "start_time": 1`} {
		name := lab.IfName(fmt.Sprintf("t2%d", i))
		run := privateRunDir(t)
		sleep := exec.Command("sleep", "300")
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
		state := fmt.Sprintf(`{"pid": %d%s, "mode": "netstack"}`, sleep.Process.Pid, startTime)
		if err := os.WriteFile(filepath.Join(run, name+".state"), []byte(state), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, errOut, err := wgu(ctx, t, ns, "down", "--run-dir", run, name)
		cancel()
		time.Sleep(200 * time.Millisecond)
		if processGone(sleep.Process.Pid) {
			t.Fatalf("state %s: wgu down killed an unrelated process (%v)\nstdout: %s\nstderr: %s", state, err, out, errOut)
		}
		if !strings.Contains(errOut, "not the daemon") {
			t.Errorf("state %s: wgu down should say why it did not signal; stderr: %s", state, errOut)
		}
	}
}

// TestTrustDownRefusesHostileState: a forged state names an nft "table"
// that is really a command. wgu down must refuse the state and change
// nothing; the namespace's own nft table must survive.
func TestTrustDownRefusesHostileState(t *testing.T) {
	RequireE2E(t)
	if reason := MissingPrerequisite("nft"); reason != "" {
		skipOrFail(t, reason)
	}
	lab := NewLab(t)
	ns := lab.Netns("trust")
	name := lab.IfName("t3")
	run := privateRunDir(t)
	ns.MustRun("nft", "add", "table", "ip", "trustmarker")
	table := `wgu-x\nflush ruleset\nadd table ip wgu-x`
	state := `{"pid": 4194000, "mode": "tun", "host": {"link": "` + name + `", "link_index": 1, "nft_tables": [{"family": "ip", "name": "` + table + `"}]}}`
	if err := os.WriteFile(filepath.Join(run, name+".state"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, errOut, err := wgu(ctx, t, ns, "down", "--run-dir", run, name)
	if _, _, lerr := ns.Run(ctx, "nft", "list", "table", "ip", "trustmarker"); lerr != nil {
		t.Fatalf("wgu down ran the command hidden in the state's table name: the ruleset was flushed (down: %v, %s)", err, errOut)
	}
	if err == nil || !strings.Contains(errOut, "nft_tables") || !strings.Contains(errOut, name+".state") {
		t.Errorf("wgu down should refuse the state, naming the file and the field: %v\nstderr: %s", err, errOut)
	}
}

// TestTrustHooksGetNoReadinessPipe: a PostUp hook lists its descriptors
// and environment, and starts `wgu up` for a second interface. The hook
// must not hold the daemon's readiness pipe or see WGU_READY_FD, and the
// nested `wgu up` must come up as its own daemon and return.
func TestTrustHooksGetNoReadinessPipe(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ns := lab.Netns("trust")
	outer, inner := lab.IfName("t4"), lab.IfName("t5")
	run := privateRunDir(t)
	dir := t.TempDir()
	innerConf := netstackConfig(t, dir, inner, "10.77.1.1/24", "")
	// The hook's parent is the daemon, whose descriptor 3 is its
	// readiness pipe until it reports ready.
	hook := fmt.Sprintf("PostUp = readlink /proc/$PPID/fd/3 > %[1]s/ready; ls -l /proc/self/fd > %[1]s/fds; env > %[1]s/env; %[2]s up --mode netstack --run-dir %[3]s -c %[4]s && touch %[1]s/nested-ok\n",
		dir, wguBinary(t), run, innerConf)
	outerConf := netstackConfig(t, dir, outer, "10.77.0.1/24", hook)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		wgu(ctx, t, ns, "down", "--run-dir", run, inner)
		wgu(ctx, t, ns, "down", "--run-dir", run, outer)
	})
	mustWgu(ctx, t, ns, "up", "--mode", "netstack", "--run-dir", run, "-c", outerConf)

	fds, err := os.ReadFile(filepath.Join(dir, "fds"))
	if err != nil {
		t.Fatalf("the hook did not run: %v", err)
	}
	ready, _ := os.ReadFile(filepath.Join(dir, "ready"))
	pipe := strings.TrimSpace(string(ready))
	if !strings.HasPrefix(pipe, "pipe:") {
		t.Fatalf("the daemon's descriptor 3 is %q, not its readiness pipe", pipe)
	}
	// Other descriptors the test runner itself leaks into wgu are not
	// wgu's to close; the readiness pipe is.
	for _, line := range strings.Split(string(fds), "\n") {
		if strings.HasSuffix(line, "-> "+pipe) {
			t.Errorf("the hook inherited the readiness pipe: %s", line)
		}
	}
	if env, _ := os.ReadFile(filepath.Join(dir, "env")); strings.Contains(string(env), "WGU_READY_FD") {
		t.Errorf("the hook's environment has WGU_READY_FD")
	}
	if err := waitFor(ctx, "the nested wgu up to return", func() bool {
		_, err := os.Stat(filepath.Join(dir, "nested-ok"))
		return err == nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{outer, inner} {
		if fi, err := os.Stat(filepath.Join(run, n+".sock")); err != nil || fi.Mode()&os.ModeSocket == 0 {
			t.Errorf("%s is not up: %v", n, err)
		}
	}
	mustWgu(ctx, t, ns, "down", "--run-dir", run, inner)
	mustWgu(ctx, t, ns, "down", "--run-dir", run, outer)
}
