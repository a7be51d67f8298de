package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ProcessStartTime is field 22 of /proc/PID/stat: when the process started,
// in clock ticks since boot. A PID reused by a later process has a later
// start time.
func ProcessStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: the fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	v, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return v, nil
}

// OpenDaemon returns the state's daemon process, if it still runs and is
// the process that wrote the state: its start time matches the recorded one
// or, for a state that recorded none, its control socket in dir answers
// with the same PID. A nil process with a nil error means the daemon is
// gone; a nil process with an error says why a live process that has the
// PID was not taken for the daemon (a PID reused after a crash). Callers
// must not signal the PID in either case.
//
// The process is opened (a pidfd, through os.FindProcess) before it is
// checked, so the checked process is the one later signals reach even if
// the daemon exits and its PID is reused in between.
func (s *State) OpenDaemon(ctx context.Context, dir, name string) (*os.Process, error) {
	if !ProcessAlive(s.PID) {
		return nil, nil
	}
	p, err := os.FindProcess(s.PID)
	if err != nil {
		return nil, nil
	}
	if err := s.confirm(ctx, dir, name); err != nil {
		p.Release()
		if !ProcessAlive(s.PID) {
			return nil, nil
		}
		return nil, err
	}
	return p, nil
}

func (s *State) confirm(ctx context.Context, dir, name string) error {
	if s.StartTime != 0 {
		got, err := ProcessStartTime(s.PID)
		if err != nil {
			return fmt.Errorf("process %d: %w", s.PID, err)
		}
		if got != s.StartTime {
			return fmt.Errorf("process %d started at tick %d, not %d as the state records: another process reuses the daemon's PID", s.PID, got, s.StartTime)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, err := dialControlIn(ctx, dir, name)
	if err != nil {
		return fmt.Errorf("process %d: the state records no start time and the control socket does not answer to confirm it is the daemon: %w", s.PID, err)
	}
	defer cl.Close()
	if d, ok := ctx.Deadline(); ok {
		cl.conn.SetDeadline(d)
	}
	rep, err := cl.Do(Request{Op: "info"})
	if err != nil {
		return fmt.Errorf("process %d: asking the control socket: %w", s.PID, err)
	}
	if rep.PID != s.PID {
		return fmt.Errorf("process %d: the control socket answers for process %d", s.PID, rep.PID)
	}
	return nil
}

// StopDaemon sends p SIGTERM and waits up to timeout for it to exit,
// killing it after that. Signals go through p's pidfd, never to a PID
// that was reused meanwhile.
func StopDaemon(p *os.Process, timeout time.Duration) error {
	defer p.Release()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return fmt.Errorf("stopping process %d: %w", p.Pid, err)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		// Signal 0 fails once it exited; ProcessAlive also sees a zombie
		// that a non-reaping PID 1 keeps.
		if p.Signal(syscall.Signal(0)) != nil || !ProcessAlive(p.Pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Signal(syscall.SIGKILL)
	return fmt.Errorf("process %d did not stop within %s; killed", p.Pid, timeout)
}
