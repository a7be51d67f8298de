package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A proxy without credentials on a non-loopback address is announced at start and marked by `wgu show`; one with
// credentials, or on loopback, is not. The namespace is the test's own, so 0.0.0.0 reaches nothing else.
func TestOpenProxyWarning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	RequireE2E(t)
	lab := NewLab(t)
	ns := lab.Netns("proxy")
	ifName := lab.IfName("op")
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	if err := os.Mkdir(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := writeConfig(t, dir, ifName, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.9/24

[Socks5]
BindAddress = 0.0.0.0:1080

[http]
BindAddress = 0.0.0.0:8080
Username = alice
Password = secret

[Socks5]
BindAddress = 127.0.0.1:1081
MaxConnections = 8
`, newKeyPair(t).Private))
	up := ns.Start(wguBinary(t), "up", "-f", "--mode", "netstack", "--run-dir", runDir, "-c", conf)
	t.Cleanup(func() {
		up.Signal(syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		up.Wait(ctx)
	})
	sock := filepath.Join(runDir, ifName+".sock")
	if err := waitFor(ctx, "the control socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil || isDone(up)
	}); err != nil || isDone(up) {
		t.Fatalf("wgu did not come up (%v)\nstderr: %s", err, up.Stderr())
	}
	const warning = "open proxy: anyone who can reach 0.0.0.0:1080 can use this tunnel"
	if err := waitFor(ctx, "the open-proxy warning", func() bool { return strings.Contains(up.Stderr(), warning) }); err != nil {
		t.Fatalf("no %q at start:\n%s", warning, up.Stderr())
	}
	if n := strings.Count(up.Stderr(), "open proxy:"); n != 1 {
		t.Errorf("%d open-proxy warnings, want 1 (only the socks5 on 0.0.0.0 without a password):\n%s", n, up.Stderr())
	}
	show := mustWgu(ctx, t, ns, "show", "--run-dir", runDir, ifName)
	for _, want := range []string{
		"socks5 0.0.0.0:1080 (OPEN PROXY: no password, not on loopback)",
		"http proxy 0.0.0.0:8080 (password required)",
	} {
		if !strings.Contains(show, want) {
			t.Errorf("wgu show lacks %q:\n%s", want, show)
		}
	}
	if strings.Count(show, "OPEN PROXY") != 1 {
		t.Errorf("wgu show marks %d proxies open, want 1:\n%s", strings.Count(show, "OPEN PROXY"), show)
	}
	if strings.Contains(show+up.Stderr(), "secret") {
		t.Errorf("the proxy password is printed")
	}
}
