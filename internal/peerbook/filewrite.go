package peerbook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNotWritable is returned when the caller may not change a config file.
var ErrNotWritable = errors.New("config file is not writable by this user")

// CheckWritable says, before anything changes, whether the caller may
// replace path: write access to the file and to its directory (the new
// version is a temporary file there, renamed over the old one).
func CheckWritable(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		if err := unix.Access(p, unix.W_OK); err != nil {
			return fmt.Errorf("%s: %w (uid %d; %s: %v): run this as the file's owner (or root), e.g. with sudo", path, ErrNotWritable, os.Getuid(), p, err)
		}
	}
	return nil
}

// WriteFileAtomic replaces path with data so that a reader sees either the
// old or the new file, never a part of one, also after a crash: a temporary
// file in the same directory is written and synced, given the old file's mode
// and owner, renamed over path, and the directory synced.
func WriteFileAtomic(path string, data []byte) error {
	// A symlinked config (wg0.conf -> elsewhere) stays a symlink: the file
	// it points to is the one replaced.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid()) {
		if err := tmp.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("writing %s: keeping its owner %d:%d: %w", path, st.Uid, st.Gid, err)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// withFileLock runs fn holding an exclusive flock on path, so that two wgu
// processes (a CLI and the page) do not lose each other's edits. The file is
// replaced by rename, so after taking the lock it checks that path is still
// the file it locked, and tries again if not.
func withFileLock[T any](path string, fn func() (T, error)) (T, error) {
	var zero T
	if err := CheckWritable(path); err != nil {
		return zero, err
	}
	for range 100 {
		f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return zero, fmt.Errorf("locking %s: %w", path, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return zero, fmt.Errorf("locking %s: %w", path, err)
		}
		locked, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(locked, now) {
			v, err := fn()
			f.Close() // releases the lock
			return v, err
		}
		f.Close()
	}
	return zero, fmt.Errorf("locking %s: the file keeps being replaced", path)
}
