package rundir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Ensure creates dir (mode 0700, and its missing parents) when it does not
// exist, and checks that it can be trusted, on the directory actually
// opened. The error names the path, what is wrong and how to fix it.
func Ensure(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return fmt.Errorf("creating run directory %s: %w", dir, err)
		}
		// Mkdir, not MkdirAll: if someone else made it in the meantime,
		// EEXIST sends us to the checks below like any existing directory.
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating run directory %s: %w", dir, err)
		}
	}
	d, err := Open(dir)
	if err != nil {
		return err
	}
	return d.Close()
}

// Dir is an open, checked run directory; files are opened relative to it.
type Dir struct {
	f *os.File
}

// Open opens an existing run directory after checking it: Lstat first, for
// a clear message about a symlink, then the same checks on the descriptor
// opened with O_NOFOLLOW, so a directory swapped between the two is caught.
func Open(dir string) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("run directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, untrusted(dir, "is a symlink")
	}
	if err := checkAncestors(abs, dir); err != nil {
		return nil, err
	}
	fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, untrusted(dir, "is not a directory (or was replaced by a symlink)")
		}
		return nil, fmt.Errorf("opening run directory %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("run directory %s: %w", dir, err)
	}
	if err := checkDir(dir, abs, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Dir{f: os.NewFile(uintptr(fd), abs)}, nil
}

// checkDir applies the ownership and mode rule to the opened directory.
func checkDir(dir, abs string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return untrusted(dir, "is not a directory")
	}
	euid := uint32(os.Geteuid())
	if st.Uid != euid {
		return untrusted(dir, fmt.Sprintf("is owned by uid %d, not by this user (uid %d)", st.Uid, euid))
	}
	perm := st.Mode & 0o777
	allowed := uint32(0o700)
	if abs == SystemDir && euid == 0 {
		allowed = 0o755
	}
	if perm&^allowed != 0 {
		what := "gives group or others access"
		if perm&0o022 != 0 {
			what = "is writable by group or others"
		}
		return untrusted(dir, fmt.Sprintf("%s (mode %04o, expected %04o or stricter)", what, perm, allowed))
	}
	return nil
}

// checkAncestors checks the directories above abs, both as written and
// with symlinks resolved: each must be root's or this user's, and not
// writable by group or others unless sticky. Otherwise their owner (or any
// user) could rename the run directory away and put one of theirs there.
func checkAncestors(abs, dir string) error {
	parent := filepath.Dir(abs)
	real, err := filepath.EvalSymlinks(parent)
	if err != nil {
		return fmt.Errorf("run directory %s: resolving %s: %w", dir, parent, err)
	}
	for _, start := range []string{parent, real} {
		for p := start; ; p = filepath.Dir(p) {
			if err := checkAncestor(p, dir); err != nil {
				return err
			}
			if p == filepath.Dir(p) {
				break
			}
		}
	}
	return nil
}

func checkAncestor(p, dir string) error {
	what, err := ancestorProblem(p)
	if err != nil {
		return fmt.Errorf("run directory %s: %w", dir, err)
	}
	if what != "" {
		return untrusted(dir, what)
	}
	return nil
}

// ancestorProblem says what is wrong with p as a directory above a trusted
// one, or "" if nothing is.
func ancestorProblem(p string) (string, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("no owner for %s", p)
	}
	if euid := uint32(os.Geteuid()); st.Uid != 0 && st.Uid != euid {
		return fmt.Sprintf("is inside %s, which uid %d owns and could replace it", p, st.Uid), nil
	}
	if fi.Mode()&fs.ModeSymlink == 0 && fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Sprintf("is inside %s, which others may write to (mode %04o, not sticky) and could replace it", p, fi.Mode().Perm()), nil
	}
	return "", nil
}

func untrusted(dir, what string) error {
	return fmt.Errorf("run directory %s %s: %w; remove it (wgu recreates it with mode 0700) or choose another with --run-dir", dir, what, ErrUntrusted)
}

// Path is the directory's absolute path.
func (d *Dir) Path() string { return d.f.Name() }

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// OpenFile opens name, a plain file name in d, without following a symlink
// (O_NOFOLLOW, relative to the checked directory) and checks that what was
// opened is a regular file this user owns, with no write access for group
// or others. A planted symlink or FIFO is refused, not written through.
func (d *Dir) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	path := filepath.Join(d.Path(), name)
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return nil, fmt.Errorf("%s: not a plain file name", path)
	}
	// O_NONBLOCK: opening a planted FIFO must not hang; it is refused
	// below. O_TRUNC waits until the file is known to be ours.
	trunc := flag&os.O_TRUNC != 0
	flag &^= os.O_TRUNC
	fd, err := unix.Openat(int(d.f.Fd()), name, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, uint32(perm.Perm()))
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s is a symlink: %w; remove it", path, ErrUntrusted)
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := checkFile(path, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if trunc {
		if err := unix.Ftruncate(fd, 0); err != nil {
			unix.Close(fd)
			return nil, &fs.PathError{Op: "truncate", Path: path, Err: err}
		}
	}
	return os.NewFile(uintptr(fd), path), nil
}

func checkFile(path string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s is not a regular file: %w; remove it", path, ErrUntrusted)
	}
	if euid := uint32(os.Geteuid()); st.Uid != euid {
		return fmt.Errorf("%s is owned by uid %d, not by this user (uid %d): %w; remove it", path, st.Uid, euid, ErrUntrusted)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o): %w; remove it", path, st.Mode&0o777, ErrUntrusted)
	}
	return nil
}

// ReadFile reads name in the run directory dir after checking both.
func ReadFile(dir, name string) ([]byte, error) {
	d, err := Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	f, err := d.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFile replaces the contents of name in the run directory dir (mode
// 0600), refusing a symlink or another user's file in its place.
func WriteFile(dir, name string, data []byte) error {
	d, err := Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	f, err := d.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// CheckFile checks a file whose contents wgu would act on without having
// been handed it by the user (the config a state file names, whose hooks
// `down` runs after a crash): following symlinks, it must be a regular file
// owned by root or this user, not writable by group or others, in
// directories only root or this user can change.
func CheckFile(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s: not an absolute path: %w", path, ErrUntrusted)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file: %w", path, ErrUntrusted)
	}
	if euid := uint32(os.Geteuid()); st.Uid != 0 && st.Uid != euid {
		return fmt.Errorf("%s is owned by uid %d, not by root or this user (uid %d): %w", path, st.Uid, euid, ErrUntrusted)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o): %w", path, fi.Mode().Perm(), ErrUntrusted)
	}
	for _, p := range []string{filepath.Dir(path), filepath.Dir(real)} {
		for ; ; p = filepath.Dir(p) {
			what, err := ancestorProblem(p)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if what != "" {
				return fmt.Errorf("%s %s: %w", path, what, ErrUntrusted)
			}
			if p == filepath.Dir(p) {
				break
			}
		}
	}
	return nil
}

// Readable reports whether a client may look for sockets and state in dir
// (another process's run directory): it is not a symlink, root or this
// user owns it, and nobody else may write to it, so whatever is in it was
// put there by root or this user. A missing directory is an error too.
func Readable(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return untrusted(dir, "is a symlink")
	case !fi.IsDir() || !ok:
		return untrusted(dir, "is not a directory")
	case st.Uid != 0 && st.Uid != uint32(os.Geteuid()):
		return untrusted(dir, fmt.Sprintf("is owned by uid %d", st.Uid))
	case fi.Mode().Perm()&0o022 != 0:
		return untrusted(dir, fmt.Sprintf("is writable by group or others (mode %04o)", fi.Mode().Perm()))
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	return checkAncestors(abs, dir)
}
