package rundir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const nobody = 65534

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make files another user owns")
	}
}

func TestEnsureCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "run")
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created %v, want a 0700 directory", fi.Mode())
	}
	if err := Ensure(dir); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
}

func TestEnsureRefusesUntrustedDir(t *testing.T) {
	requireRoot(t)
	cases := []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"other owner", func(t *testing.T, p string) { mkdir(t, p, 0o700); chown(t, p, nobody) }, "owned by uid 65534"},
		{"symlink", func(t *testing.T, p string) {
			real := filepath.Join(filepath.Dir(p), "real")
			mkdir(t, real, 0o700)
			if err := os.Symlink(real, p); err != nil {
				t.Fatal(err)
			}
		}, "is a symlink"},
		{"group readable", func(t *testing.T, p string) { mkdir(t, p, 0o750) }, "gives group or others access"},
		{"world writable", func(t *testing.T, p string) { mkdir(t, p, 0o777) }, "writable by group or others"},
		{"sticky tmp-like", func(t *testing.T, p string) { mkdir(t, p, os.ModeSticky|0o777) }, "writable by group or others"},
		{"not a directory", func(t *testing.T, p string) { writeFile(t, p, "x") }, "not a directory"},
		{"parent writable by others", func(t *testing.T, p string) {
			mkdir(t, filepath.Dir(p), 0o777)
			mkdir(t, p, 0o700)
		}, "others may write to"},
		{"parent owned by another user", func(t *testing.T, p string) {
			chown(t, filepath.Dir(p), nobody)
			mkdir(t, p, 0o700)
		}, "which uid 65534 owns"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "p")
			if c.name != "parent writable by others" {
				mkdir(t, parent, 0o755)
			}
			path := filepath.Join(parent, "run")
			c.make(t, path)
			err := Ensure(path)
			if err == nil {
				t.Fatalf("Ensure accepted %s", path)
			}
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), path) ||
				!strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--run-dir") {
				t.Fatalf("error %q: want ErrUntrusted naming %s, %q and the fix", err, path, c.want)
			}
		})
	}
}

func TestEnsureAcceptsStickyParent(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "tmp")
	mkdir(t, parent, os.ModeSticky|0o777)
	if err := Ensure(filepath.Join(parent, "wgu-0")); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFileRefusesSymlink(t *testing.T) {
	dir := privateDir(t)
	victim := filepath.Join(t.TempDir(), "bashrc")
	writeFile(t, victim, "original\n")
	if err := os.Symlink(victim, filepath.Join(dir, "wg0.log")); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.OpenFile("wg0.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err == nil {
		f.WriteString("attack\n")
		f.Close()
		t.Fatal("opened a symlink")
	}
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("error %q: want a symlink refusal", err)
	}
	if err := WriteFile(dir, "wg0.log", []byte("attack\n")); err == nil {
		t.Fatal("WriteFile wrote through a symlink")
	}
	if b, _ := os.ReadFile(victim); string(b) != "original\n" {
		t.Fatalf("victim file changed: %q", b)
	}
}

func TestOpenFileRefusesForeignFileWithoutTruncating(t *testing.T) {
	requireRoot(t)
	dir := privateDir(t)
	p := filepath.Join(dir, "wg0.state")
	writeFile(t, p, "theirs")
	chown(t, p, nobody)
	if err := WriteFile(dir, "wg0.state", []byte("ours")); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("WriteFile over another user's file: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "theirs" {
		t.Fatalf("file truncated or changed: %q", b)
	}
}

func TestOpenFileRefusesFIFO(t *testing.T) {
	dir := privateDir(t)
	if err := syscall.Mkfifo(filepath.Join(dir, "wg0.log"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(dir, "wg0.log"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("ReadFile of a FIFO: %v", err)
	}
}

func TestSystemDirRule(t *testing.T) {
	// The relaxed 0755 rule belongs to the system directory as root only.
	st := &unix.Stat_t{Mode: unix.S_IFDIR | 0o755, Uid: uint32(os.Geteuid())}
	err := checkDir("/x", "/x", st)
	if err == nil {
		t.Fatal("0755 accepted outside the system directory")
	}
	err = checkDir(SystemDir, SystemDir, st)
	if (err == nil) != (os.Geteuid() == 0) {
		t.Fatalf("system directory 0755 as uid %d: %v", os.Geteuid(), err)
	}
	st.Mode = unix.S_IFDIR | 0o775
	if err := checkDir(SystemDir, SystemDir, st); err == nil {
		t.Fatal("group-writable system directory accepted")
	}
}

// privateDir is a t.TempDir with mode 0700 (TempDir's own is 0755).
func privateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mkdir(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	// Chmod, not Mkdir's mode: the umask must not hide the bits under test.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, p string, uid int) {
	t.Helper()
	if err := os.Lchown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, text string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReadable(t *testing.T) {
	requireRoot(t)
	ok := privateDir(t)
	if err := Readable(ok); err != nil {
		t.Fatalf("own 0700 directory: %v", err)
	}
	if err := os.Chmod(ok, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Readable(ok); err != nil {
		t.Fatalf("own 0755 directory (others cannot write): %v", err)
	}
	theirs := filepath.Join(privateDir(t), "wgu-0")
	mkdir(t, theirs, 0o700)
	chown(t, theirs, nobody)
	if err := Readable(theirs); err == nil {
		t.Fatal("another user's directory is readable for clients")
	}
	open := filepath.Join(privateDir(t), "open")
	mkdir(t, open, 0o777)
	if err := Readable(open); err == nil {
		t.Fatal("a world-writable directory is readable for clients")
	}
}
