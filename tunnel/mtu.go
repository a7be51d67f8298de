package tunnel

import (
	"context"
	"net/netip"

	"github.com/wgu-project/wgu/internal/pathmtu"
)

// startPathMTU fits the MTU of a tunnel whose config sets none to the path
// towards its endpoints, in the background: the tunnel runs at the MTU it
// came up with (wg-quick's rule on a TUN, 1420 on a netstack) until the
// probes answer, then the MTU is lowered if the path needs it. Up does not
// wait for the probes (one wait of 200 ms at most). Close stops them.
func (t *Tunnel) startPathMTU(endpoints []netip.AddrPort) {
	if t.cfg.Interface.MTU != 0 || len(endpoints) == 0 || (t.ns == nil && t.host == nil) {
		return // set by the config, nothing to probe, or a link that is not ours
	}
	mtu, err := t.tdev.MTU()
	if err != nil {
		t.log.Debug("reading the MTU to probe the path with", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.stopPathMTU = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		if fit := pathmtu.Fit(ctx, t.log, t.opts.probePathMTU, mtu, endpoints); fit < mtu && ctx.Err() == nil {
			t.lowerMTU(mtu, fit)
		}
	}()
}

// lowerMTU sets the running tunnel's MTU from old to mtu, unless it is
// closing.
func (t *Tunnel) lowerMTU(old, mtu int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return
	}
	var err error
	switch {
	case t.ns != nil:
		err = t.ns.SetMTU(mtu)
	case t.host != nil:
		if err = t.host.LowerMTU(mtu); err == nil && t.opts.runDir != "" {
			err = t.writeState() // the MTU to restore at down
		}
	}
	if err != nil {
		t.log.Warn("lowering the MTU to fit the path towards the endpoints", "mtu", mtu, "err", err)
		return
	}
	t.log.Info("MTU lowered to fit the path towards the endpoints", "old", old, "mtu", mtu)
}
