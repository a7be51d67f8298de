package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Addresses of the `-c wg0.conf` tests: a TUN hub and a spoke whose config
// is the file wg0.conf in its working directory.
var (
	cwdHubLink   = netip.MustParsePrefix("172.26.0.1/24")
	cwdSpokeLink = netip.MustParsePrefix("172.26.0.2/24")
	cwdSpokeWG   = netip.MustParseAddr("10.0.0.6")
)

// newCwdLab brings a TUN hub up and writes the spoke's config as
// dir/wg0.conf; the spoke namespace is returned, nothing runs there yet.
func newCwdLab(t *testing.T, ctx context.Context, dir string) (spoke *Netns) {
	t.Helper()
	RequireE2E(t)
	lab := NewLab(t)
	hub := lab.Netns("hub")
	spoke = lab.Netns("spoke")
	lab.Link(hub, spoke, cwdHubLink, cwdSpokeLink)
	hubKey, spokeKey := newKeyPair(t), newKeyPair(t)
	hubConf := writeConfig(t, t.TempDir(), lab.IfName("hub"), fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d

[Peer]
PublicKey = %s
AllowedIPs = %s/32
`, hubKey.Private, hubWG, hubPort, spokeKey.Public, cwdSpokeWG))
	writeConfig(t, dir, "wg0", fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 10.0.0.0/24
PersistentKeepalive = 25
`, spokeKey.Private, cwdSpokeWG, hubKey.Public, cwdHubLink.Addr(), hubPort))
	wguUp(ctx, t, hub, hubConf)
	return spoke
}

// The mission's own command: `wgu up -c wg0.conf` in the directory that
// holds wg0.conf (and reload, strip and down with -c wg0.conf). wg0.conf is a valid interface name too, but after -c it
// is a file. The interface is really called wg0, so the root variant runs
// in a mount namespace with a private /run/wireguard: other tests'
// sockets and ours do not meet.
func TestUpConfigFileInCurrentDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	spoke := newCwdLab(t, ctx, dir)
	const script = `set -e
mkdir -p /run/wireguard
mount -t tmpfs -o mode=0700 wgu-test /run/wireguard
cd "$2"
"$1" up -c wg0.conf
for i in $(seq 50); do ping -n -c 1 -W 1 "$3" >/dev/null && break; done
ping -n -c 1 -W 2 "$3"
"$1" show wg0
"$1" reload -c wg0.conf
"$1" strip -c wg0.conf | grep -q '^PrivateKey = '
"$1" down -c wg0.conf
if ip link show wg0 2>/dev/null; then echo "wg0 still exists"; exit 1; fi
if [ -n "$(ls /run/wireguard)" ]; then ls -l /run/wireguard; exit 1; fi
echo all-done`
	out, errOut, err := spoke.Run(ctx, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", script, "sh", wguBinary(t), dir, hubWG.String())
	if err != nil || !strings.HasSuffix(out, "all-done\n") {
		t.Fatalf("wgu up -c wg0.conf; ping; wgu down -c wg0.conf: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if !strings.Contains(out, "interface: wg0") {
		t.Errorf("wgu show wg0 did not show wg0:\n%s", out)
	}
}

// The same command as nobody, without /dev/net/tun: netstack mode, sockets
// in $XDG_RUNTIME_DIR/wireguard.
func TestUpConfigFileInCurrentDirRootless(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, tool := range []string{"setpriv", "unshare"} {
		if reason := MissingPrerequisite(tool); reason != "" {
			skipOrFail(t, reason)
		}
	}
	dir, runtimeDir := nobodyDir(t)
	spoke := newCwdLab(t, ctx, dir)
	if err := os.Chown(filepath.Join(dir, "wg0.conf"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	const script = `set -e
cd "$2"
"$1" up -c wg0.conf
for i in $(seq 50); do "$1" ping -c 1 -W 1s -I wg0 "$3" >/dev/null && break; done
"$1" ping -c 1 -W 2s -I wg0 "$3"
"$1" show wg0
"$1" reload -c wg0.conf
"$1" strip -c wg0.conf | grep -q '^PrivateKey = '
"$1" down -c wg0.conf
if [ -e "$XDG_RUNTIME_DIR/wireguard/wg0.sock" ]; then echo "socket left"; exit 1; fi
echo all-done`
	out, errOut, err := spoke.Run(ctx, rootlessArgs("env", "XDG_RUNTIME_DIR="+runtimeDir,
		"sh", "-c", script, "sh", wguBinary(t), dir, hubWG.String())...)
	if err != nil || !strings.HasSuffix(out, "all-done\n") {
		t.Fatalf("rootless wgu up -c wg0.conf; wgu ping; wgu down -c wg0.conf: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if !strings.Contains(out, "interface: wg0") || !strings.Contains(errOut, "using netstack") {
		t.Errorf("want wg0 shown, on the netstack:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

// runWgu runs the binary outside any lab and returns its exit status.
func runWgu(ctx context.Context, t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var o, e strings.Builder
	cmd := commandContext(ctx, wguBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatalf("wgu %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), status
}

func TestCLIUnknownCommandAndHelp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out, errOut, status := runWgu(ctx, t, "foo")
	first, rest, _ := strings.Cut(errOut, "\n")
	if status != 1 || out != "" || !strings.Contains(first, `unknown command "foo"`) || !strings.Contains(rest, "USAGE:") {
		t.Errorf("wgu foo: status %d, stdout %q, stderr:\n%s\nwant status 1, one line naming foo, then the usage on stderr", status, out, errOut)
	}
	out, errOut, status = runWgu(ctx, t, "help")
	if status != 0 || !strings.Contains(out, "COMMANDS:") || !strings.Contains(out, "up ") {
		t.Errorf("wgu help: status %d\nstdout:\n%s\nstderr:\n%s", status, out, errOut)
	}
	out, errOut, status = runWgu(ctx, t, "help", "up")
	if status != 0 || !strings.Contains(out, "wgu up - bring up the interface") || !strings.Contains(out, "--config") {
		t.Errorf("wgu help up: status %d\nstdout:\n%s\nstderr:\n%s", status, out, errOut)
	}
	if _, errOut, status = runWgu(ctx, t, "help", "foo"); status != 1 || !strings.Contains(errOut, `unknown command "foo"`) {
		t.Errorf("wgu help foo: status %d\nstderr:\n%s", status, errOut)
	}
}
