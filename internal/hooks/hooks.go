package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// ErrNoShell is returned for a hook that must run when no shell exists (a
// FROM scratch container): neither bash in PATH nor /bin/sh.
var ErrNoShell = errors.New("no shell to run it (looked for bash in PATH and /bin/sh)")

// Runner runs a config's PreUp/PostUp/PreDown/PostDown commands as
// wg-quick does: each through bash (sh where there is no bash), with %i
// replaced by the interface name, echoed as "[#] cmd" to Out together with
// its output.
//
// In netstack mode there is no kernel interface for a hook to configure, so
// a hook that only configures the host's network (see HostNetworkOnly) is
// not run: Out gets one line saying it was skipped. The decision is made
// from the hook's text before anything runs, never from PATH or from what a
// command prints.
type Runner struct {
	Out             io.Writer // echoes and the hooks' output; nil discards them
	SkipHostNetwork bool      // netstack mode: hooks that only configure the host network are skipped

	// Shell overrides the shell lookup (tests): a path, or "-" for none.
	Shell string
}

// Run runs one stage's commands (stage is "PreUp", "PostUp", ...) for
// an interface on a kernel TUN. The first failure stops the stage.
func Run(ctx context.Context, stage, ifname string, hooks []string, out io.Writer) error {
	return Runner{Out: out}.Run(ctx, stage, ifname, hooks)
}

// Run runs one stage's commands in order; the first failure stops the stage.
func (h Runner) Run(ctx context.Context, stage, ifname string, hooks []string) error {
	out := h.Out
	if out == nil {
		out = io.Discard
	}
	for _, hook := range hooks {
		cmdline := strings.ReplaceAll(hook, "%i", ifname)
		if h.SkipHostNetwork && HostNetworkOnly(cmdline) {
			fmt.Fprintf(out, "[-] %s hook skipped (netstack mode: it only configures the host's network): %s\n", stage, cmdline)
			continue
		}
		fmt.Fprintf(out, "[#] %s\n", cmdline)
		shell, err := h.findShell()
		if err != nil {
			return fmt.Errorf("%s hook `%s' cannot run: %w", stage, cmdline, err)
		}
		cmd := exec.CommandContext(ctx, shell, "-c", cmdline)
		cmd.Stdout = out
		cmd.Stderr = out
		killGroupOnCancel(cmd)
		if err := cmd.Run(); err != nil {
			if errors.Is(err, exec.ErrWaitDelay) && ctx.Err() == nil {
				// Something the hook left running in the background
				// still holds its output: not a failure.
				continue
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%s hook `%s' stopped: %w", stage, cmdline, ctx.Err())
			}
			if uid := os.Geteuid(); uid != 0 {
				return fmt.Errorf("%s hook `%s' failed: %w (wgu runs as uid %d, not root: the command may need privileges this process lacks)", stage, cmdline, err, uid)
			}
			return fmt.Errorf("%s hook `%s' failed: %w", stage, cmdline, err)
		}
	}
	return nil
}

// findShell is bash where it exists (wg-quick evaluates hooks in bash, so
// hooks may use its syntax), else /bin/sh.
func (h Runner) findShell() (string, error) {
	switch h.Shell {
	case "":
	case "-":
		return "", ErrNoShell
	default:
		if _, err := exec.LookPath(h.Shell); err != nil {
			return "", fmt.Errorf("%w: %w", ErrNoShell, err)
		}
		return h.Shell, nil
	}
	if p, err := exec.LookPath("bash"); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("/bin/sh"); err == nil {
		return p, nil
	}
	return "", ErrNoShell
}
