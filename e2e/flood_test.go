package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHandshakeUnderFlood: while a third namespace floods the hub's port with
// handshake initiations that carry a valid MAC1 (what anyone who knows its
// public key can forge), the hub answers them with cookie replies, and a new
// spoke still gets in: its first initiation is answered with a cookie too,
// its retry carries MAC2 with that cookie, and the hub accepts it. The
// replies leave wgu's bind in batches (netstackx/udpbind/replies_linux.go);
// this is the exchange with a real peer through them.
func TestHandshakeUnderFlood(t *testing.T) {
	RequireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	flood := buildFlood(t)

	lab := NewLab(t)
	hub, spoke, attacker := lab.Netns("hub"), lab.Netns("spoke"), lab.Netns("attacker")
	hubU, spokeU := netip.MustParsePrefix("192.168.83.1/24"), netip.MustParsePrefix("192.168.83.2/24")
	hubF, attackerF := netip.MustParsePrefix("192.168.84.1/24"), netip.MustParsePrefix("192.168.84.2/24")
	lab.Link(hub, spoke, hubU, spokeU)
	lab.Link(hub, attacker, hubF, attackerF)
	hubIf, spokeIf := lab.IfName("hub"), lab.IfName("sp")
	hubKey, spokeKey := newKeyPair(t), newKeyPair(t)
	hubWG, spokeWG := netip.MustParseAddr("10.83.0.1"), netip.MustParseAddr("10.83.0.2")
	dir := t.TempDir()
	hubConf := writeConfig(t, dir, hubIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d

[Peer]
PublicKey = %s
AllowedIPs = %s/32
`, hubKey.Private, hubWG, hubPort, spokeKey.Public, spokeWG))
	spokeConf := writeConfig(t, dir, spokeIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = %s/32
`, spokeKey.Private, spokeWG, hubKey.Public, hubU.Addr(), hubPort, hubWG))
	wguUp(ctx, t, hub, hubConf)

	p, err := attacker.StartEnv(nil, flood, "-to", netip.AddrPortFrom(hubF.Addr(), hubPort).String(),
		"-key", hubKey.Public, "-rate", "20000", "-duration", "60s")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Signal(syscall.SIGKILL)
	time.Sleep(time.Second) // the hub's handshake queue fills: it is under load

	start := time.Now()
	wguUp(ctx, t, spoke, spokeConf)
	pingCtx, pingCancel := context.WithTimeout(ctx, 30*time.Second)
	err = spoke.Ping(pingCtx, hubWG)
	pingCancel()
	if err != nil {
		t.Fatalf("the spoke did not get through the flood: %v%s", err, daemonLog(hubIf))
	}
	took := time.Since(start)

	p.Signal(syscall.SIGINT)
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("flood generator: %v\n%s", err, p.Stderr())
	}
	var res struct {
		Sent          int64   `json:"sent"`
		Seconds       float64 `json:"seconds"`
		CookieReplies int64   `json:"cookie_replies"`
		OtherReplies  int64   `json:"other_replies"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(p.Stdout())), &res); err != nil {
		t.Fatalf("flood generator output %q: %v", p.Stdout(), err)
	}
	t.Logf("the spoke reached the hub %.1f s after up, under %d initiations in %.1f s; %d cookie replies came back, %d other datagrams",
		took.Seconds(), res.Sent, res.Seconds, res.CookieReplies, res.OtherReplies)
	// Every initiation after the queue filled is answered (the first
	// ones, before the hub was under load, are not).
	if res.Sent < 20000 || res.CookieReplies < res.Sent*8/10 {
		t.Errorf("%d cookie replies to %d initiations, want most of them answered", res.CookieReplies, res.Sent)
	}
	// Under load the first initiation without a cookie is refused: the spoke
	// gets in on a retry (5 s later), not at once.
	if took < 4*time.Second {
		t.Errorf("the spoke got in after %.1f s: was the hub not under load?", took.Seconds())
	}
}

// buildFlood builds the suite's flood generator (benchmarks/internal/flood).
func buildFlood(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "flood")
	out, err := exec.Command("go", "build", "-o", bin, "../benchmarks/internal/flood").CombinedOutput()
	if err != nil {
		t.Fatalf("building the flood generator: %v\n%s", err, out)
	}
	return bin
}
