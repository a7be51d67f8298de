package tunnel

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// RunHooks runs one stage's commands (stage is "PreUp", "PostUp", ...) in
// order through /bin/sh -c, with %i replaced by the interface name, echoing
// each as "[#] cmd" to out as wg-quick does. The first failure stops the stage.
func RunHooks(ctx context.Context, stage, ifname string, hooks []string, out io.Writer) error {
	for _, h := range hooks {
		cmdline := strings.ReplaceAll(h, "%i", ifname)
		fmt.Fprintf(out, "[#] %s\n", cmdline)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", cmdline)
		cmd.Stdout = out
		cmd.Stderr = out
		if err := cmd.Run(); err != nil {
			if uid := os.Geteuid(); uid != 0 {
				return fmt.Errorf("%s hook `%s' failed: %w (wgu runs as uid %d, not root: the command may need privileges this process lacks)", stage, cmdline, err, uid)
			}
			return fmt.Errorf("%s hook `%s' failed: %w", stage, cmdline, err)
		}
	}
	return nil
}

// runHooks runs a stage when the tunnel was brought up WithHooks.
func (t *Tunnel) runHooks(ctx context.Context, stage string, hooks []string) error {
	if t.opts.hookOut == nil {
		return nil
	}
	return RunHooks(ctx, stage, t.cfg.Name, hooks, t.opts.hookOut)
}
