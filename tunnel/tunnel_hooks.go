package tunnel

import "context"

// runHooks runs a stage when the tunnel was brought up WithHooks.
func (t *Tunnel) runHooks(ctx context.Context, stage string, hooks []string) error {
	if t.opts.hookOut == nil {
		return nil
	}
	return HookRunner{Out: t.opts.hookOut, SkipHostNetwork: t.mode == ModeNetstack, shell: t.opts.hookShell}.Run(ctx, stage, t.Name(), hooks)
}
