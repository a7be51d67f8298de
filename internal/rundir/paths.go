// Package rundir decides whether a run directory (where wgu keeps its UAPI
// and control sockets, its state and its log) can be trusted, and opens the
// files in it without following symlinks.
//
// A run directory is trusted when only this process's user (or root) can
// change what is in it: it is a real directory, not a symlink; it is owned
// by the effective uid; it gives group and others no access (the system
// directory /var/run/wireguard, which wireguard-go creates 0755, may let
// them read and search but not write); and every directory above it can be
// changed only by root or this user, or is sticky like /tmp, so nobody
// else can rename it away and put another in its place. Once that holds,
// paths inside it name what this user put there.
package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SystemDir is wireguard-tools' socket directory. Its mode may let others
// read and search it (wireguard-go creates it 0755): the sockets and files
// in it are 0600 and root's, and `wg` lists it.
const SystemDir = "/var/run/wireguard"

// ErrUntrusted is wrapped by every refusal of a directory or file.
var ErrUntrusted = errors.New("not trusted")

// ErrExists is returned when an interface of that name is already running.
var ErrExists = errors.New("interface already exists")

// ErrNoInterface is returned when no running wgu or wireguard-go interface
// has the given name.
var ErrNoInterface = errors.New("no such interface")

// DefaultRunDir is the socket directory for this process: the system one as
// root, $XDG_RUNTIME_DIR/wireguard otherwise.
func DefaultRunDir() string {
	if os.Geteuid() == 0 {
		return SystemDir
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "wireguard")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("wgu-%d", os.Geteuid()))
}

// RunDirs lists the directories searched for interface sockets, the explicit
// one (if any) first, without duplicates. The default ones are left out
// when another user could have put things in them (see Readable):
// a client must not send a key to, or believe, a socket someone planted in
// a /tmp/wgu-UID they created first.
func RunDirs(explicit string) []string {
	var dirs []string
	add := func(d string) {
		for _, x := range dirs {
			if x == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	if explicit != "" {
		add(explicit)
	}
	for _, d := range []string{SystemDir, DefaultRunDir()} {
		if Readable(d) == nil {
			add(d)
		}
	}
	return dirs
}

// SocketPath is the UAPI socket of interface name in dir.
func SocketPath(dir, name string) string { return filepath.Join(dir, name+".sock") }

// ControlPath is wgu's control socket of interface name in dir.
func ControlPath(dir, name string) string { return filepath.Join(dir, name+".wgu") }

// StatePath is the file recording what `up` changed on the host, so `down`
// can undo it even after the daemon died.
func StatePath(dir, name string) string { return filepath.Join(dir, name+".state") }

// LogPath is where a daemonized tunnel writes its logs.
func LogPath(dir, name string) string { return filepath.Join(dir, name+".log") }

// FindSocket returns the UAPI socket path of interface name, searching
// RunDirs(explicit).
func FindSocket(explicit, name string) (string, error) {
	for _, d := range RunDirs(explicit) {
		p := SocketPath(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&fs.ModeSocket != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrNoInterface)
}

// Interfaces lists the names of the interfaces that have a UAPI socket in
// RunDirs(explicit), sorted.
func Interfaces(explicit string) []string {
	seen := map[string]bool{}
	var names []string
	for _, d := range RunDirs(explicit) {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			n, ok := strings.CutSuffix(e.Name(), ".sock")
			if !ok || seen[n] || e.Type()&fs.ModeSocket == 0 {
				continue
			}
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}
