package tunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
)

// RunHooks runs one stage's commands (stage is "PreUp", "PostUp", ...) in
// order through /bin/sh -c, with %i replaced by the interface name, echoing
// each as "[#] cmd" to out as wg-quick does. The first failure stops the stage.
func RunHooks(ctx context.Context, stage, ifname string, hooks []string, out io.Writer) error {
	return runHooks(ctx, stage, ifname, hooks, out, nil)
}

// runHooks is RunHooks; with a non-nil skip, a hook that failed for lack of
// privilege is reported to skip and the stage goes on.
func runHooks(ctx context.Context, stage, ifname string, hooks []string, out io.Writer, skip func(cmdline string, err error)) error {
	for _, h := range hooks {
		cmdline := strings.ReplaceAll(h, "%i", ifname)
		fmt.Fprintf(out, "[#] %s\n", cmdline)
		var captured bytes.Buffer
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", cmdline)
		cmd.Stdout = io.MultiWriter(out, &captured)
		cmd.Stderr = cmd.Stdout
		killGroupOnCancel(cmd)
		err := cmd.Run()
		if err == nil || errors.Is(err, exec.ErrWaitDelay) && ctx.Err() == nil {
			// (Something the hook left running in the background still
			// holds its output: not a failure.)
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s hook `%s' stopped: %w", stage, cmdline, ctx.Err())
		}
		uid := os.Geteuid()
		if uid == 0 {
			return fmt.Errorf("%s hook `%s' failed: %w", stage, cmdline, err)
		}
		if skip != nil && deniedPrivilege(captured.String()) {
			skip(cmdline, err)
			continue
		}
		return fmt.Errorf("%s hook `%s' failed: %w (wgu runs as uid %d, not root: the command may need privileges this process lacks)", stage, cmdline, err, uid)
	}
	return nil
}

// deniedPrivilege recognises the messages of commands refused for lack of
// privilege (sysctl, ip, iptables, nft, resolvconf, ...).
func deniedPrivilege(output string) bool {
	lower := strings.ToLower(output)
	for _, s := range []string{"permission denied", "operation not permitted", "must be root", "are you root", "read-only file system"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// runHooks runs a stage when the tunnel was brought up WithHooks. A
// netstack tunnel without root runs them too, but a hook refused for lack of
// privilege (a hub's `sysctl -w net.ipv4.ip_forward=1`, iptables rules) is
// reported as skipped rather than failing Up: the netstack does the
// routing such hooks set up on a kernel interface.
func (t *Tunnel) runHooks(ctx context.Context, stage string, hooks []string) error {
	if t.opts.hookOut == nil {
		return nil
	}
	var skip func(string, error)
	if t.mode == ModeNetstack {
		skip = func(cmdline string, err error) {
			t.log.Warn("hook skipped: it needs privileges this process lacks", slog.String("stage", stage),
				slog.String("hook", cmdline), slog.String("err", err.Error()))
			fmt.Fprintf(t.opts.hookOut, "[!] %s hook skipped without privilege: %s\n", stage, cmdline)
		}
	}
	return runHooks(ctx, stage, t.Name(), hooks, t.opts.hookOut, skip)
}
