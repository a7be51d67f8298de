//go:build unix

package daemon

import (
	"errors"
	"syscall"
)

// signalable reports whether process pid exists (signal 0 reaches it, or
// is refused only for lack of permission).
func signalable(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
