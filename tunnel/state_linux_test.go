package tunnel

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"testing"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/rundir"
)

func TestProcessAlive(t *testing.T) {
	if !daemon.ProcessAlive(os.Getpid()) {
		t.Fatal("own process reported dead")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if daemon.ProcessAlive(cmd.Process.Pid) {
		t.Fatal("exited and reaped process reported alive")
	}
	if daemon.ProcessAlive(0) || daemon.ProcessAlive(-1) {
		t.Fatal("non-positive pid reported alive")
	}
}

func TestCleanupRemovesFilesOfDeadTunnel(t *testing.T) {
	dir := privateDir(t)
	for _, p := range []string{rundir.SocketPath(dir, "wgx"), rundir.StatePath(dir, "wgx"), rundir.LogPath(dir, "wgx")} {
		if err := os.WriteFile(p, []byte(`{"pid": 4194000, "mode": "netstack"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := daemon.Cleanup(context.Background(), slog.New(slog.DiscardHandler), dir, "wgx"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}
