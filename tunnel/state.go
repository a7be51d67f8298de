package tunnel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
)

// State is what a running tunnel records beside its UAPI socket, so that
// `wgu down` can find the process and undo its host changes even after the
// process died.
type State struct {
	PID        int        `json:"pid"`
	Mode       Mode       `json:"mode"`
	ConfigPath string     `json:"config_path,omitempty"`
	Host       *HostState `json:"host,omitempty"`
}

func (t *Tunnel) writeState() error {
	st := State{PID: os.Getpid(), Mode: t.mode, ConfigPath: t.opts.configPath, Host: t.host}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	path := StatePath(t.opts.runDir, t.Name())
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

func removeState(dir, name string) { os.Remove(StatePath(dir, name)) }

// ReadState reads the state file of interface name in dir.
func ReadState(dir, name string) (*State, error) {
	b, err := os.ReadFile(StatePath(dir, name))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", StatePath(dir, name), err)
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
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
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
	if st, err := ReadState(dir, name); err == nil && st.Host != nil {
		errs = append(errs, st.Host.Undo(ctx, log))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, p := range []string{SocketPath(dir, name), ControlPath(dir, name), StatePath(dir, name), LogPath(dir, name)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
