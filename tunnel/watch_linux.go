package tunnel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// watchRemoval calls gone once path no longer exists (it was removed or
// renamed); stop ends the watch. A bound socket's inode lives on after
// unlink, so the watch is on its link count (IN_ATTRIB), not only on its
// deletion.
func watchRemoval(path string, gone func()) (stop func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_ATTRIB|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch: %w", err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close interrupts Read
	missing := func() bool {
		_, err := os.Lstat(path)
		return errors.Is(err, fs.ErrNotExist)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			// Check first: the file may have gone before the watch began.
			if missing() {
				gone()
				return
			}
			if _, err := f.Read(buf); err != nil {
				return // stopped
			}
		}
	}()
	return func() { f.Close() }, nil
}
