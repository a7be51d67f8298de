package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

func TestHealthAgainstARunningTunnel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runDir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	priv, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseConfig("wgh0.conf", strings.NewReader("[Interface]\nPrivateKey = "+priv.Reveal().String()+
		"\nAddress = 10.9.0.1/24\n\n[Peer]\nPublicKey = "+peer.PublicKey().String()+"\nAllowedIPs = 10.9.0.2/32\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name = "wgh0"
	tun, err := tunnel.Up(ctx, cfg, tunnel.WithMode(tunnel.ModeNetstack), tunnel.WithUAPISocket(runDir))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()

	// (Without a name, the only interface running: the e2e container tests
	// check that; here other tests' interfaces may be running as root.)
	line, err := checkHealth(ctx, runDir, "wgh0", false, time.Now())
	if err != nil || line != "wgh0: ok (netstack mode, 1 peers)" {
		t.Errorf("health = %q, %v", line, err)
	}
	// The peer never answered: not ready.
	if _, err := checkHealth(ctx, runDir, "wgh0", true, time.Now()); err == nil || !strings.Contains(err.Error(), "no peer has a handshake") {
		t.Errorf("health --handshake without a handshake: %v", err)
	}
	if _, err := checkHealth(ctx, runDir, "wgh9", false, time.Now()); err == nil || !strings.Contains(err.Error(), "unhealthy") {
		t.Errorf("health of an interface that does not exist: %v", err)
	}
	tun.Close()
	if _, err := checkHealth(ctx, runDir, "wgh0", false, time.Now()); err == nil {
		t.Errorf("health after Close succeeded")
	}
}

func TestFreshestHandshake(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	peers := func(ages ...time.Duration) *uapi.Status {
		st := &uapi.Status{}
		for _, a := range ages {
			var p uapi.PeerStatus
			if a >= 0 {
				p.LastHandshake = now.Add(-a)
			}
			st.Peers = append(st.Peers, p)
		}
		return st
	}
	for _, tt := range []struct {
		st   *uapi.Status
		want time.Duration
		ok   bool
	}{
		{peers(), 0, false},
		{peers(-1), 0, false}, // never
		{peers(200 * time.Second), 0, false},
		{peers(-1, 200*time.Second, 5*time.Second, 30*time.Second), 5 * time.Second, true},
		{peers(179 * time.Second), 179 * time.Second, true},
	} {
		got, err := freshestHandshake(tt.st, now)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("freshestHandshake(%d peers) = %v, %v; want %v ok=%v", len(tt.st.Peers), got, err, tt.want, tt.ok)
		}
	}
}
