package tunnel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
	"golang.org/x/sys/unix"
)

// Attacks by another local user on the run directory, its files, the
// state file and the sockets (issue 12). Each test performs the attack.

const nobodyUID = 65534

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as, or make files of, another user")
	}
}

// privateDir is a t.TempDir with mode 0700, as a run directory must be
// (TempDir's own is 0755).
func privateDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lonelyConfig is a netstack interface with no peer: it sends nothing.
func lonelyConfig(t testing.TB, name string) *config.Config {
	t.Helper()
	k, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &config.Config{Name: name, Interface: config.Interface{PrivateKey: k,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.1/24")}}}
}

func TestUpRefusesUntrustedRunDir(t *testing.T) {
	requireRoot(t)
	cases := []struct {
		name string
		make func(t *testing.T, dir string)
		want string
	}{
		{"made by another user", func(t *testing.T, dir string) {
			mustMkdir(t, dir, 0o700)
			if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 65534"},
		{"symlink to another user's directory", func(t *testing.T, dir string) {
			theirs := filepath.Join(filepath.Dir(dir), "theirs")
			mustMkdir(t, theirs, 0o700)
			if err := os.Symlink(theirs, dir); err != nil {
				t.Fatal(err)
			}
		}, "symlink"},
		{"world writable", func(t *testing.T, dir string) { mustMkdir(t, dir, 0o777) }, "writable by group or others"},
		{"group readable", func(t *testing.T, dir string) { mustMkdir(t, dir, 0o750) }, "gives group or others access"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(privateDir(t), "run")
			c.make(t, dir)
			tun, err := Up(context.Background(), lonelyConfig(t, "wgtrust0"), WithMode(ModeNetstack), WithUAPISocket(dir))
			if err == nil {
				tun.Close()
				t.Fatalf("Up used the untrusted run directory %s", dir)
			}
			if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--run-dir") {
				t.Fatalf("error %q: want it to name %s, say %q and the fix", err, dir, c.want)
			}
			if _, err := os.Lstat(rundir.SocketPath(dir, "wgtrust0")); err == nil {
				t.Fatal("a socket was created in the untrusted directory")
			}
		})
	}
}

func TestUpRefusesPlantedStateSymlink(t *testing.T) {
	dir := privateDir(t)
	victim := filepath.Join(privateDir(t), "bashrc")
	if err := os.WriteFile(victim, []byte("original\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, rundir.StatePath(dir, "wgtrust1")); err != nil {
		t.Fatal(err)
	}
	tun, err := Up(context.Background(), lonelyConfig(t, "wgtrust1"), WithMode(ModeNetstack), WithUAPISocket(dir))
	if err == nil {
		tun.Close()
	}
	if b, _ := os.ReadFile(victim); string(b) != "original\n" {
		t.Fatalf("the state was written through a planted symlink: victim now %q", b)
	}
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("Up with a planted state symlink: %v, want a refusal naming the symlink", err)
	}
}

// TestSocketsNeverGroupAccessible watches the run directory while sockets
// are created under a umask of 0 and looks at each socket file as soon as
// it appears: it must never have group or other permissions, not even
// for the moment between bind and a chmod.
func TestSocketsNeverGroupAccessible(t *testing.T) {
	old := unix.Umask(0)
	defer unix.Umask(old)
	dir := privateDir(t)
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ifd)
	if _, err := unix.InotifyAddWatch(ifd, dir, unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	go func() {
		buf := make([]byte, 64*1024)
		for {
			n, err := unix.Read(ifd, buf)
			if err != nil || n <= 0 {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
				off += unix.SizeofInotifyEvent + int(ev.Len)
				var st unix.Stat_t
				if unix.Lstat(filepath.Join(dir, name), &st) == nil && st.Mode&0o077 != 0 {
					mu.Lock()
					seen = append(seen, fmt.Sprintf("%s %04o", name, st.Mode&0o777))
					mu.Unlock()
				}
			}
		}
	}()
	for i := range 300 {
		ln, err := rundir.ListenPrivate(filepath.Join(dir, fmt.Sprintf("s%d.sock", i)), "test socket")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Fatalf("%d of 300 sockets were seen group/world accessible when created, e.g. %s", len(seen), seen[0])
	}
}

// hostileStates are forged state files: each field wgu would pass to nft,
// resolvconf, netlink, a shell or kill(2) carries something wgu never
// writes.
func hostileStates(name string) map[string]string {
	host := func(extra string) string {
		return `{"pid": 4194000, "mode": "tun", "host": {"link": "` + name + `", "link_index": 7` + extra + `}}`
	}
	return map[string]string{
		"nft table injection":     host(`, "nft_tables": [{"family": "ip", "name": "wgu-x\nflush ruleset"}]`),
		"nft table of another":    host(`, "nft_tables": [{"family": "inet", "name": "filter"}]`),
		"link of another":         host(`, "link": "eth0"`),
		"link path":               `{"pid": 4194000, "mode": "tun", "host": {"link": "../../x", "link_index": 7}}`,
		"resolvconf option":       host(`, "resolvconf": "-x"`),
		"resolvconf other":        host(`, "resolvconf": "eth0"`),
		"main lookup rule":        host(`, "fwmark": 51820, "rules": [{"family": "inet", "priority": 32766, "table": 254}]`),
		"sysctl injection":        host(`, "src_valid_mark_changed": true, "src_valid_mark_old": "1\n0"`),
		"redirects injection":     host(`, "send_redirects_changed": true, "send_redirects_old": "1\n0"`),
		"kill switch not default": host(`, "fwmark": 51820, "kill_switch": [{"dst": "10.0.0.0/8", "table": 51820}]`),
		"kill switch other table": host(`, "fwmark": 51820, "kill_switch": [{"dst": "0.0.0.0/0", "table": 254}]`),
		"negative route table":    host(`, "routes": [{"dst": "0.0.0.0/0", "table": -1}]`),
		"pid 1":                   `{"pid": 1, "mode": "netstack"}`,
		"negative pid":            `{"pid": -1, "mode": "netstack"}`,
		"relative config path":    `{"pid": 4194000, "mode": "netstack", "config_path": "../evil.conf"}`,
		"config path with a line": `{"pid": 4194000, "mode": "netstack", "config_path": "/etc/wireguard/x\n.conf"}`,
		"unknown mode":            `{"pid": 4194000, "mode": "sh -c reboot"}`,
	}
}

func TestReadStateRejectsHostileFields(t *testing.T) {
	for what, text := range hostileStates("wgtrust2") {
		t.Run(what, func(t *testing.T) {
			dir := privateDir(t)
			if err := os.WriteFile(rundir.StatePath(dir, "wgtrust2"), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			if st, err := daemon.ReadState(dir, "wgtrust2"); !errors.Is(err, daemon.ErrBadState) {
				t.Fatalf("ReadState accepted %s: %+v, %v", text, st, err)
			}
		})
	}
	// What wgu itself writes passes.
	dir := privateDir(t)
	good := `{"pid": 4194000, "start_time": 5, "mode": "tun", "config_path": "/etc/wireguard/wgtrust2.conf", "host": {"link": "wgtrust2", "link_index": 7,
	  "resolvconf": "tun.wgtrust2", "fwmark": 51820, "nft_tables": [{"family": "ip", "name": "wgu-wgtrust2"}],
	  "rules": [{"family": "inet", "priority": 32764, "table": 51820, "not_fwmark": 51820}, {"family": "inet", "priority": 32765, "table": 254, "suppress_prefixlength": 0}],
	  "routes": [{"dst": "0.0.0.0/0", "table": 51820}], "src_valid_mark_changed": true, "src_valid_mark_old": "0",
	  "kill_switch": [{"dst": "0.0.0.0/0", "table": 51820}, {"dst": "::/0", "table": 51820}],
	  "send_redirects_changed": true, "send_redirects_old": "1"}}`
	if err := os.WriteFile(rundir.StatePath(dir, "wgtrust2"), []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.ReadState(dir, "wgtrust2"); err != nil {
		t.Fatalf("a state wgu writes was refused: %v", err)
	}
}

// TestCleanupRunsNothingFromHostileState gives Cleanup a forged state and a
// fake nft and resolvconf that record their calls: none may run.
func TestCleanupRunsNothingFromHostileState(t *testing.T) {
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	for _, tool := range []string{"nft", "resolvconf"} {
		script := "#!/bin/sh\necho \"" + tool + " $*\" >> " + calls + "\ncat >> " + calls + "\n"
		if err := os.WriteFile(filepath.Join(bin, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for what, text := range hostileStates("wgtrust3") {
		t.Run(what, func(t *testing.T) {
			dir := privateDir(t)
			if err := os.WriteFile(rundir.StatePath(dir, "wgtrust3"), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			err := daemon.Cleanup(context.Background(), slog.New(slog.DiscardHandler), dir, "wgtrust3")
			if !errors.Is(err, daemon.ErrBadState) {
				t.Errorf("Cleanup of a forged state: %v, want ErrBadState", err)
			}
			if b, _ := os.ReadFile(calls); len(b) > 0 {
				t.Fatalf("a forged state made Cleanup run:\n%s", b)
			}
		})
	}
}

func TestOpenDaemonConfirmsThePID(t *testing.T) {
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleep.Wait()
	defer sleep.Process.Kill()
	start, err := daemon.ProcessStartTime(sleep.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	dir := privateDir(t)
	ctx := context.Background()
	for _, st := range []daemon.State{
		{PID: sleep.Process.Pid, StartTime: start + 1, Mode: "netstack"}, // reused PID
		{PID: sleep.Process.Pid, Mode: "netstack"},                       // no start time, no control socket
	} {
		p, err := st.OpenDaemon(ctx, dir, "wgtrust4")
		if p != nil || err == nil {
			t.Fatalf("state %+v: sleep taken for the daemon (%v, %v)", st, p, err)
		}
	}
	st := daemon.State{PID: sleep.Process.Pid, StartTime: start, Mode: "netstack"}
	p, err := st.OpenDaemon(ctx, dir, "wgtrust4")
	if p == nil || err != nil {
		t.Fatalf("matching start time not confirmed: %v", err)
	}
	p.Release()
}

// TestSocketsRefuseOtherUsers loosens the run directory and the sockets'
// modes, then connects as another user: the control and UAPI sockets must
// close the connection without answering.
func TestSocketsRefuseOtherUsers(t *testing.T) {
	requireRoot(t)
	// Not under t.TempDir, whose 0700 parent would keep nobody out anyway.
	dir, err := os.MkdirTemp("", "wgu-peer-run-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tun, err := Up(context.Background(), lonelyConfig(t, "wgtrust5"), WithMode(ModeNetstack), WithUAPISocket(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	// The test's own loosening: file modes alone must not be the guard.
	for p, mode := range map[string]os.FileMode{dir: 0o755, rundir.ControlPath(dir, "wgtrust5"): 0o666, rundir.SocketPath(dir, "wgtrust5"): 0o666} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	copyExe := publicTestBinary(t)
	ask := func(uid uint32, path, request string) string {
		cmd := exec.Command(copyExe, "-test.run=^TestPeerHelper$")
		cmd.Env = append(os.Environ(), peerHelperEnv+"="+path, peerHelperReqEnv+"="+request)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper as uid %d: %v\n%s", uid, err, out)
		}
		return string(out)
	}
	for _, c := range []struct{ path, req, answer string }{
		{rundir.ControlPath(dir, "wgtrust5"), `{"op":"info"}` + "\n", "netstack"},
		{rundir.SocketPath(dir, "wgtrust5"), "get=1\n\n", "private_key="},
	} {
		if out := ask(0, c.path, c.req); !strings.Contains(out, c.answer) {
			t.Fatalf("root's request on %s got no answer: %s", c.path, out)
		}
		if out := ask(nobodyUID, c.path, c.req); strings.Contains(out, c.answer) || !strings.Contains(out, "answer: \"\"") {
			t.Fatalf("uid %d was answered on %s: %s", nobodyUID, c.path, out)
		}
	}
}

// publicTestBinary copies the test binary where another user may run it.
func publicTestBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.MkdirTemp("", "wgu-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o777); err != nil {
		t.Fatal(err)
	}
	copyExe := filepath.Join(pub, "tunnel.test")
	if b, err := os.ReadFile(exe); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(copyExe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return copyExe
}

// TestClientsRefusePlantedSocket: another user (uid 65533) serves a socket
// where a user's (uid 65534) client looks for an interface. The UAPI and
// control clients must not talk to it.
func TestClientsRefusePlantedSocket(t *testing.T) {
	requireRoot(t)
	exe := publicTestBinary(t)
	dir := filepath.Dir(exe) // 0777: anyone could have put a socket there
	sock := rundir.SocketPath(dir, "wgtrust6")
	ctl := rundir.ControlPath(dir, "wgtrust6")
	planter := exec.Command(exe, "-test.run=^TestPeerHelper$")
	planter.Env = append(os.Environ(), peerHelperModeEnv+"=plant", peerHelperEnv+"="+sock+","+ctl)
	planter.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID - 1, Gid: nobodyUID - 1}}
	stdout, err := planter.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := planter.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { planter.Process.Kill(); planter.Wait() }()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); !strings.Contains(line, "planted") {
		t.Fatalf("planter: %q", line)
	}
	victim := exec.Command(exe, "-test.run=^TestPeerHelper$")
	victim.Env = append(os.Environ(), peerHelperModeEnv+"=client", peerHelperEnv+"="+dir)
	victim.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
	out, err := victim.CombinedOutput()
	if err != nil {
		t.Fatalf("client helper: %v\n%s", err, out)
	}
	for _, what := range []string{"uapi", "control"} {
		if !strings.Contains(string(out), what+": refused: ") || !strings.Contains(string(out), "served by uid 65533") {
			t.Fatalf("the %s client talked to another user's socket:\n%s", what, out)
		}
	}
}

const (
	peerHelperEnv     = "WGU_TEST_PEER_SOCKET"
	peerHelperReqEnv  = "WGU_TEST_PEER_REQUEST"
	peerHelperModeEnv = "WGU_TEST_PEER_MODE"
)

// TestPeerHelper is the client TestSocketsRefuseOtherUsers runs as another
// user: it sends one request and prints whatever comes back.
func TestPeerHelper(t *testing.T) {
	path := os.Getenv(peerHelperEnv)
	if path == "" {
		t.Skip("helper for TestSocketsRefuseOtherUsers and TestClientsRefusePlantedSocket")
	}
	switch os.Getenv(peerHelperModeEnv) {
	case "plant": // serve the given sockets to anyone, answering nothing
		for _, p := range strings.Split(path, ",") {
			ln, err := net.Listen("unix", p)
			if err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, 0o777)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go io.Copy(io.Discard, c)
				}
			}()
		}
		fmt.Println("planted")
		time.Sleep(time.Minute)
		return
	case "client": // what `wgu show` and `wgu ping` do with --run-dir path
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if _, err := uapi.Get(ctx, rundir.SocketPath(path, "wgtrust6")); err != nil {
			fmt.Printf("uapi: refused: %v\n", err)
		} else {
			fmt.Println("uapi: talked")
		}
		ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if c, err := daemon.Dial(ctx, path, "wgtrust6"); err != nil {
			fmt.Printf("control: refused: %v\n", err)
		} else {
			c.Close()
			fmt.Println("control: talked")
		}
		return
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		fmt.Printf("dial: %v\n", err)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, os.Getenv(peerHelperReqEnv))
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Printf("answer: %q\n", line)
}

func mustMkdir(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}
