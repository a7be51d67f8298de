package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/wgu-project/wgu/tunnel"
)

// readyFDEnv tells a daemon child which descriptor to report readiness on.
const readyFDEnv = "WGU_READY_FD"

func isDaemonChild() bool { return os.Getenv(readyFDEnv) != "" }

// startDaemon re-runs wgu in the foreground as a detached child and returns
// once the child reports the interface up, or fails with the child's error.
// The child writes its own errors to our stderr until it is ready.
func startDaemon(req upRequest) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding own executable: %w", err)
	}
	return runDetached(exec.Command(exe, req.args()...))
}

// runDetached starts cmd (its Path, Args, Env and ExtraFiles set by the
// caller) in a new session with a readiness pipe as its next descriptor, and
// returns once the child reports ready, or fails with the child's exit code.
func runDetached(cmd *exec.Cmd) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()

	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", readyFDEnv, 3+len(cmd.ExtraFiles)))
	cmd.Stdin = devnull
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = append(cmd.ExtraFiles, w)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// The child is in a session of its own, so Ctrl-C reaches only us:
	// until it is ready, pass a stop on to it and wait while it undoes
	// what it did, as `wgu up -f` would.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(stop)
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("starting daemon: %w", err)
	}
	w.Close()
	returned := make(chan struct{})
	defer close(returned)
	go func() {
		select {
		case <-stop:
			cmd.Process.Signal(syscall.SIGTERM)
		case <-returned:
		}
	}()

	line, _ := bufio.NewReader(r).ReadString('\n')
	if line == "ready\n" {
		cmd.Process.Release()
		return nil
	}
	// The child failed and has already said why on our stderr.
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exitSilently(exit.ExitCode())
		}
		return fmt.Errorf("daemon: %w", err)
	}
	return exitSilently(1)
}

// signalReady detaches the daemon child from the terminal of the `wgu up`
// that started it (stdout and stderr go to dir/NAME.log from now on) and
// then tells that parent the interface is up.
func signalReady(dir, name string) error {
	logf, err := os.OpenFile(tunnel.LogPath(dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening daemon log: %w", err)
	}
	defer logf.Close()
	if err := redirectOutput(logf); err != nil {
		return err
	}
	return reportReady()
}

// redirectOutput points stdout and stderr at f.
func redirectOutput(f *os.File) error {
	for _, target := range []int{1, 2} {
		if err := unix.Dup3(int(f.Fd()), target, 0); err != nil {
			return fmt.Errorf("redirecting output to %s: %w", f.Name(), err)
		}
	}
	return nil
}

// reportReady tells the parent waiting in runDetached that the child is up.
func reportReady() error {
	fd, err := strconv.Atoi(os.Getenv(readyFDEnv))
	if err != nil {
		return fmt.Errorf("%s: %w", readyFDEnv, err)
	}
	ready := os.NewFile(uintptr(fd), "ready")
	defer ready.Close()
	if _, err := ready.WriteString("ready\n"); err != nil {
		return fmt.Errorf("reporting readiness: %w", err)
	}
	return nil
}
