package e2e

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// keyPair is a WireGuard key pair in base64, as configs write them.
type keyPair struct{ Private, Public string }

// newKeyPair makes a fresh X25519 key pair without relying on wgu.
func newKeyPair(t testing.TB) keyPair {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString
	return keyPair{Private: enc(k.Bytes()), Public: enc(k.PublicKey().Bytes())}
}

// writeConfig writes text to DIR/NAME.conf (mode 0600, so wgu does not warn
// about a world-readable key) and returns the path.
func writeConfig(t testing.TB, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wgu runs the wgu binary with args in ns.
func wgu(ctx context.Context, t testing.TB, ns *Netns, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return ns.Run(ctx, append([]string{wguBinary(t)}, args...)...)
}

// mustWgu runs wgu and fails t unless it succeeds; it returns stdout.
func mustWgu(ctx context.Context, t testing.TB, ns *Netns, args ...string) string {
	t.Helper()
	out, errOut, err := wgu(ctx, t, ns, args...)
	if err != nil {
		t.Fatalf("wgu %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// wguUp brings up the interface of config path in ns and registers a
// `wgu down` for the end of the test (before the lab goes away). It fails
// t unless the UAPI socket exists once `up` returned.
func wguUp(ctx context.Context, t testing.TB, ns *Netns, path string) {
	t.Helper()
	name := strings.TrimSuffix(filepath.Base(path), ".conf")
	mustWgu(ctx, t, ns, "up", "-c", path)
	t.Cleanup(func() {
		if _, err := os.Stat(socketPath(name)); err != nil {
			return // the test took it down already
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if out, errOut, err := wgu(ctx, t, ns, "down", name); err != nil {
			t.Logf("cleanup: wgu down %s: %v\n%s%s%s", name, err, out, errOut, daemonLog(name))
		}
	})
	if fi, err := os.Stat(socketPath(name)); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("wgu up returned but %s is not a socket (%v)%s", socketPath(name), err, daemonLog(name))
	}
}

func socketPath(name string) string { return filepath.Join(wgRunDir, name+".sock") }

// daemonLog returns the interface's daemon log for failure messages.
func daemonLog(name string) string {
	b, err := os.ReadFile(filepath.Join(wgRunDir, name+".log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	return "\ndaemon log:\n" + string(b)
}

// daemonPID finds the daemon of interface name: the state file's "pid",
// or else the oldest process whose command line names it.
func daemonPID(ctx context.Context, t testing.TB, ns *Netns, name string) int {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(wgRunDir, name+".state")); err == nil {
		var st struct {
			PID int `json:"pid"`
		}
		if json.Unmarshal(b, &st) == nil && st.PID > 0 {
			return st.PID
		}
	}
	// The name is unique to this lab, so any process naming it is ours.
	out, _, err := ns.Run(ctx, "pgrep", "-o", "-f", "--", name)
	if err != nil {
		t.Fatalf("no daemon for %s found: %v", name, err)
	}
	var pid int
	if _, err := fmt.Sscan(out, &pid); err != nil {
		t.Fatalf("pgrep output %q: %v", out, err)
	}
	return pid
}

// processGone reports whether pid has exited (or is a zombie nobody reaps).
func processGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// waitFor polls cond every 50 ms until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// lineSet returns the non-empty lines of s, sorted, for comparing output
// whose line order is not defined (wireguard-go lists peers in map order).
func lineSet(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, " \t\r"); l != "" {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

// leftovers lists what interface name left in the global run directory,
// apart from its log (which may outlive the interface, for post-mortems).
func leftovers(name string) []string {
	var found []string
	entries, _ := os.ReadDir(wgRunDir)
	for _, e := range entries {
		if base, ext, ok := strings.Cut(e.Name(), "."); ok && base == name && ext != "log" {
			found = append(found, e.Name())
		}
	}
	return found
}
