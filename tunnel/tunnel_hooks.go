package tunnel

import (
	"context"

	"github.com/wgu-project/wgu/internal/hooks"
)

// runHooks runs a stage when the tunnel was brought up WithHooks.
func (t *Tunnel) runHooks(ctx context.Context, stage string, cmds []string) error {
	if t.opts.hookOut == nil {
		return nil
	}
	r := hooks.Runner{Out: t.opts.hookOut, SkipHostNetwork: t.mode == ModeNetstack, Shell: t.opts.hookShell}
	return r.Run(ctx, stage, t.Name(), cmds)
}
