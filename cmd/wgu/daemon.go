package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/wgu-project/wgu/internal/rundir"
)

// readyFDEnv tells a daemon child which descriptor to report readiness on.
const readyFDEnv = "WGU_READY_FD"

// takeReadyPipe claims the readiness descriptor a daemon child is started
// with (nil in any other process). It is made close-on-exec and
// WGU_READY_FD leaves the environment, so neither hooks nor any other
// child inherit either: a hook cannot report readiness (or hold the pipe
// open) for the daemon, and a hook running `wgu up` for another interface
// starts its own daemon as usual.
func takeReadyPipe() (*os.File, error) {
	v, ok := os.LookupEnv(readyFDEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(readyFDEnv)
	fd, err := strconv.ParseUint(v, 10, 31)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a descriptor number", readyFDEnv, v)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil, fmt.Errorf("%s=%d: not a pipe", readyFDEnv, fd)
	}
	unix.CloseOnExec(int(fd))
	return os.NewFile(uintptr(fd), "ready"), nil
}

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
// caller) in a process group of its own with a readiness pipe as its next
// descriptor, and returns once the child reports ready, or fails with the
// child's exit code.
//
// The child stays in our session, as wireguard-go's daemon does: a new
// session (setsid) is also a new scheduler autogroup on Linux
// (kernel.sched_autogroup_enabled), which puts the tunnel's threads in a
// group of their own, apart from the applications of the session that
// started it. Measured with both wgu and wireguard-go, that costs a
// quarter to a third more context switches per GB and 0.6-0.9x the
// throughput against a tunnel in the applications' own group (issue 17).
// Its own process group is enough to keep the terminal's Ctrl-C and
// hangup (sent to the foreground group) away from it; it has no terminal
// on its standard descriptors.
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
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The child is in a process group of its own, so Ctrl-C reaches only us:
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

// openDaemonLog opens dir/NAME.log for a daemon child's output (creating
// the run directory if needed), refusing a symlink or another user's file
// there. It is opened before the tunnel comes up, so a refusal leaves
// nothing to undo.
func openDaemonLog(dir, name string) (*os.File, error) {
	if err := rundir.Ensure(dir); err != nil {
		return nil, err
	}
	d, err := rundir.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	f, err := d.OpenFile(name+".log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening daemon log: %w", err)
	}
	return f, nil
}

// discardEmptyLog removes dir/NAME.log if it is the empty file logf, which
// a daemon child that failed before ready opened for nothing.
func discardEmptyLog(dir, name string, logf *os.File) {
	if fi, err := logf.Stat(); err == nil && fi.Size() == 0 {
		os.Remove(filepath.Join(dir, name+".log"))
	}
}

// signalReady detaches the daemon child from the terminal of the `wgu up`
// that started it (stdout and stderr go to logf from now on) and then tells
// that parent the interface is up.
func signalReady(ready, logf *os.File) error {
	if err := redirectOutput(logf); err != nil {
		return err
	}
	return reportReady(ready)
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

// reportReady tells the parent waiting in runDetached that the child is up,
// and closes the pipe.
func reportReady(ready *os.File) error {
	defer ready.Close()
	if _, err := ready.WriteString("ready\n"); err != nil {
		return fmt.Errorf("reporting readiness: %w", err)
	}
	return nil
}
