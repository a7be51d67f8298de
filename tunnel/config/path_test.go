package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveConfigPath(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string) string {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(base), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wg0 := write("wg0.conf")
	weird := write("a_b=c+d.e-f.conf")
	other := write("sub/home.conf")
	badName := write("sub/not valid.conf")
	tooLong := write("sub/sixteen-chars-xx.conf")
	noSuffix := write("sub/wg1.txt")

	tests := []struct {
		arg, path, name, err string
	}{
		{arg: "wg0", path: wg0, name: "wg0"},
		{arg: "a_b=c+d.e-f", path: weird, name: "a_b=c+d.e-f"},
		{arg: other, path: other, name: "home"},
		{arg: wg0, path: wg0, name: "wg0"},
		{arg: "missing", err: "`" + filepath.Join(dir, "missing.conf") + "' does not exist"},
		{arg: filepath.Join(dir, "sub", "nope.conf"), err: "does not exist"},
		{arg: badName, err: "The config file must be a valid interface name, followed by .conf"},
		{arg: tooLong, err: "valid interface name, followed by .conf"},
		{arg: noSuffix, err: "valid interface name, followed by .conf"},
		// Sixteen characters is not a name, so it is a path (relative, missing).
		{arg: "sixteen-chars-xx", err: "`sixteen-chars-xx' does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			path, name, err := ResolveConfigPath(tt.arg, dir)
			if tt.err != "" {
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.err)) {
					t.Errorf("ResolveConfigPath(%q) = %q, %q, %v; want error %q", tt.arg, path, name, err, tt.err)
				}
				return
			}
			if err != nil || path != tt.path || name != tt.name {
				t.Errorf("ResolveConfigPath(%q) = %q, %q, %v; want %q, %q", tt.arg, path, name, err, tt.path, tt.name)
			}
		})
	}
}

func TestResolveConfigPathMissingIsNotExist(t *testing.T) {
	_, _, err := ResolveConfigPath("wg9", t.TempDir())
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want os.ErrNotExist", err)
	}
}

func TestWorldAccessible(t *testing.T) {
	tests := []struct {
		file, dir os.FileMode
		want      bool
	}{
		{0o600, 0o700, false},
		{0o644, 0o755, true},
		{0o644, 0o750, false}, // others cannot enter the directory
		{0o640, 0o755, false}, // others cannot read the file
		{0o601, 0o701, true},
		{0o602, 0o704, false}, // no common bit
	}
	for _, tt := range tests {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "wg0.conf")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tt.file); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tt.dir); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		got, err := WorldAccessible(p)
		if err != nil || got != tt.want {
			t.Errorf("file %o dir %o: WorldAccessible = %v, %v; want %v", tt.file, tt.dir, got, err, tt.want)
		}
	}
}

func TestWorldAccessibleFollowsSymlinks(t *testing.T) {
	open := t.TempDir()
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(open, "real.conf")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o644); err != nil {
		t.Fatal(err)
	}
	closed := filepath.Join(t.TempDir(), "c")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(closed, "wg0.conf")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if got, err := WorldAccessible(link); err != nil || !got {
		t.Errorf("WorldAccessible(link) = %v, %v; want true (the target is open)", got, err)
	}
	if _, err := WorldAccessible(filepath.Join(closed, "missing.conf")); err == nil {
		t.Error("WorldAccessible(missing) succeeded")
	}
}
