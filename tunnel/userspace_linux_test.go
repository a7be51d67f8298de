package tunnel

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

func TestOpenUAPIAndWatchRemoval(t *testing.T) {
	dir := privateDir(t)
	f, err := uapi.Open(dir, "wgtest0")
	if err != nil {
		t.Fatal(err)
	}
	path := rundir.SocketPath(dir, "wgtest0")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v %v", path, fi, err)
	}
	ln, err := uapi.ListenerFromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// A second daemon must not take over a socket that answers.
	if _, err := uapi.Open(dir, "wgtest0"); !errors.Is(err, ErrExists) {
		t.Fatalf("second OpenUAPI: %v, want ErrExists", err)
	}

	gone := make(chan struct{})
	stop, err := watchRemoval(path, func() { close(gone) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	select {
	case <-gone:
		t.Fatal("reported gone while the socket exists")
	case <-time.After(100 * time.Millisecond):
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("removal not noticed")
	}
}

func TestUserspaceOptionConflicts(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: rundir.SocketPath(dir, "x"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Up(context.Background(), &config.Config{Name: "x"}, WithUAPIListener(ln), WithUAPISocket(dir))
	if err == nil {
		t.Fatal("Up accepted WithUAPIListener together with WithUAPISocket")
	}
	// Up owned the listener: it is closed and its file removed.
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener still open after a failed Up: %v", err)
	}
	if _, err := os.Stat(rundir.SocketPath(dir, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left after a failed Up: %v", err)
	}
}
