//go:build unix

package hooks

import (
	"os/exec"
	"syscall"
	"time"
)

// hookWaitDelay is how long a hook's output may stay open after the hook
// exits (or is killed) before Wait stops waiting for it.
const hookWaitDelay = time.Second

// killGroupOnCancel runs cmd in a process group of its own: a Ctrl-C sent
// to wgu's group reaches wgu (which then stops the hook), not the hook
// halfway, and when the context ends the whole group is killed, so no
// process a hook started (`sleep 30 &`) outlives an interrupted up.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = hookWaitDelay
}
