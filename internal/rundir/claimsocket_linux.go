package rundir

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// ClaimSocket makes sure dir exists (0700) and that no live process serves
// name there; a stale socket left by a crash is removed.
func ClaimSocket(dir, name string) error {
	// The directory is the first guard of the sockets, state and log:
	// refuse one another user could have made or could change.
	if err := Ensure(dir); err != nil {
		return err
	}
	path := SocketPath(dir, name)
	if _, err := os.Lstat(path); err != nil {
		return nil
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: %w (its socket %s answers)", name, ErrExists, path)
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		os.Remove(path)
		return nil
	}
	return fmt.Errorf("checking %s: %w", path, err)
}
