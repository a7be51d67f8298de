package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/wgu-project/wgu/internal/hostcfg"
	"github.com/wgu-project/wgu/internal/rundir"
)

// State is what a running tunnel records beside its UAPI socket, so that
// `wgu down` can find the process and undo its host changes even after the
// process died.
//
// Nothing in it is taken on trust: ReadState checks the run directory and
// the file, and validates every field (Validate) before `down` acts on it,
// and the PID is signalled only once it is confirmed to be the daemon that
// wrote the state (OpenDaemon).
type State struct {
	PID int `json:"pid"`
	// StartTime is the process's start time as /proc/PID/stat gives it
	// (clock ticks since boot): with the PID, it tells the daemon apart
	// from a later process that reuses its PID after a crash.
	StartTime  uint64         `json:"start_time,omitempty"`
	Mode       string         `json:"mode"` // "tun" or "netstack"
	ConfigPath string         `json:"config_path,omitempty"`
	Host       *hostcfg.State `json:"host,omitempty"`
}

// ReadState reads the state file of interface name in dir: the directory
// must be a trusted run directory, the file a regular file of this user's
// (not a symlink), and every field valid (see Validate). An error wrapping
// ErrBadState means the file is there but must not be acted on.
func ReadState(dir, name string) (*State, error) {
	b, err := rundir.ReadFile(dir, name+".state")
	if err != nil {
		if errors.Is(err, rundir.ErrUntrusted) {
			return nil, fmt.Errorf("%w: %w", ErrBadState, err)
		}
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadState, rundir.StatePath(dir, name), err)
	}
	if err := st.Validate(name); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadState, rundir.StatePath(dir, name), err)
	}
	return &st, nil
}

// ProcessAlive reports whether the state's process still runs.
func (s *State) ProcessAlive() bool { return ProcessAlive(s.PID) }

// ProcessAlive reports whether process pid exists and is not a zombie (a
// detached daemon may be reparented to a PID 1 that never reaps).
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if !signalable(pid) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state letter follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// Cleanup undoes what a dead tunnel process left behind in dir: its host
// changes, socket and state file. It is for `wgu down` after a crash.
func Cleanup(ctx context.Context, log *slog.Logger, dir, name string) error {
	var errs []error
	st, err := ReadState(dir, name)
	if errors.Is(err, ErrBadState) {
		// Acting on part of a forged or damaged state is worse than
		// leaving it all to the user, who is told which file and field.
		return fmt.Errorf("%w; nothing was undone: check the host and remove the file", err)
	}
	if err == nil && st.Host != nil {
		errs = append(errs, st.Host.Undo(ctx, log))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, p := range []string{rundir.SocketPath(dir, name), rundir.ControlPath(dir, name), rundir.StatePath(dir, name), rundir.LogPath(dir, name)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
