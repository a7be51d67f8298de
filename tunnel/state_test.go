package tunnel

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"testing"
)

func TestProcessAlive(t *testing.T) {
	if !ProcessAlive(os.Getpid()) {
		t.Fatal("own process reported dead")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if ProcessAlive(cmd.Process.Pid) {
		t.Fatal("exited and reaped process reported alive")
	}
	if ProcessAlive(0) || ProcessAlive(-1) {
		t.Fatal("non-positive pid reported alive")
	}
}

func TestCleanupRemovesFilesOfDeadTunnel(t *testing.T) {
	dir := privateDir(t)
	for _, p := range []string{SocketPath(dir, "wgx"), StatePath(dir, "wgx"), LogPath(dir, "wgx")} {
		if err := os.WriteFile(p, []byte(`{"pid": 4194000, "mode": "netstack"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := Cleanup(context.Background(), slog.New(slog.DiscardHandler), dir, "wgx"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}
