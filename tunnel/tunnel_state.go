package tunnel

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/rundir"
)

func (t *Tunnel) writeState() error {
	st := daemon.State{PID: os.Getpid(), Mode: string(t.mode), ConfigPath: t.opts.configPath, Host: t.host}
	var err error
	if st.StartTime, err = daemon.ProcessStartTime(st.PID); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	// Not through a symlink, and not into a file another user owns.
	if err := rundir.WriteFile(t.opts.runDir, t.Name()+".state", append(b, '\n')); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

func removeState(dir, name string) { os.Remove(rundir.StatePath(dir, name)) }
