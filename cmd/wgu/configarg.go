package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel/config"
)

// confDir is where wg-quick looks for NAME.conf.
const confDir = "/etc/wireguard"

// configFlag is -c/--config FILE, the alternative to a NAME argument: its
// value is always a file path, never an interface name.
var configFlag = &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "wg-quick config `FILE`, a path (relative or absolute; its name, minus .conf, names the interface)"}

// runDirFlag overrides where sockets and state live.
var runDirFlag = &cli.StringFlag{Name: "run-dir", Usage: "`DIR` for the UAPI socket and state (default /var/run/wireguard as root, else $XDG_RUNTIME_DIR/wireguard)"}

// configTarget is the interface a command is about: the config file (if
// there is one) and the interface name.
type configTarget struct {
	path string // absolute; "" when only a name is known
	name string
}

// resolveTarget applies wg-quick's argument rules to NAME|FILE; -c FILE is
// always a file path.
func resolveTarget(c *cli.Context) (configTarget, error) {
	var path, name string
	var err error
	if file := c.String("config"); file != "" {
		if c.NArg() != 0 {
			return configTarget{}, fmt.Errorf("unexpected argument %q after -c %s", c.Args().First(), file)
		}
		path, name, err = config.ResolveConfigFile(file)
	} else {
		if c.NArg() != 1 {
			return configTarget{}, fmt.Errorf("expected one interface NAME or config FILE (or -c FILE)")
		}
		path, name, err = config.ResolveConfigPath(c.Args().First(), confDir)
	}
	if err != nil {
		return configTarget{}, err
	}
	// Absolute, but symlinks kept: wg-quick names the interface after the
	// path as given, not after the file a link points to.
	abs, err := filepath.Abs(path)
	if err != nil {
		return configTarget{}, err
	}
	return configTarget{path: abs, name: name}, nil
}

// warnWorldAccessible says what wg-quick says of a config others can read.
func warnWorldAccessible(path string) {
	if ok, err := config.WorldAccessible(path); err == nil && ok {
		fmt.Fprintf(os.Stderr, "Warning: `%s' is world accessible\n", path)
	}
}

// runDir is the socket directory this invocation uses for a new tunnel.
func runDir(c *cli.Context) string {
	if d := c.String("run-dir"); d != "" {
		return d
	}
	return rundir.DefaultRunDir()
}

// findRunning locates the state or socket of a running (or crashed) tunnel.
func findRunning(explicit, name string) (dir string, err error) {
	for _, d := range rundir.RunDirs(explicit) {
		for _, p := range []string{rundir.StatePath(d, name), rundir.SocketPath(d, name)} {
			if _, err := os.Lstat(p); err == nil {
				return d, nil
			}
		}
	}
	return "", fmt.Errorf("`%s' is not a WireGuard interface: %w", name, rundir.ErrNoInterface)
}

// ifaceName is wg-quick's rule for interface names.
var ifaceName = regexp.MustCompile(`^[a-zA-Z0-9_=+.-]{1,15}$`)

func validName(s string) bool { return ifaceName.MatchString(s) }
