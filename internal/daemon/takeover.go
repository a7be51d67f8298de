package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/wgu-project/wgu/internal/hostcfg"
	"github.com/wgu-project/wgu/internal/rundir"
)

// TakeOver reads what a previous process of interface name, which
// died without taking it down (kill -9, OOM, a crash), recorded in dir, so
// that this Up takes it over instead of adding it a second time: policy
// rules, kill switch, sysctls, nftables tables and DNS stay in place (the
// kill switch never lifts) and what the new configuration no longer wants
// is removed afterwards. What lived on the dead process's TUN went with it.
// A state whose process still runs means the interface exists.
func TakeOver(ctx context.Context, log *slog.Logger, dir, name string) (*hostcfg.State, error) {
	st, err := ReadState(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w; the previous process's changes cannot be taken over: check the host and remove the file", err)
	}
	if st.PID != os.Getpid() {
		p, err := st.OpenDaemon(ctx, dir, name)
		if p != nil {
			p.Release()
			return nil, fmt.Errorf("%s: %w (process %d runs it)", name, rundir.ErrExists, st.PID)
		}
		if err != nil {
			log.Info("the state's PID belongs to another process now", "reason", err.Error())
		}
	}
	prev := st.Host
	if prev == nil {
		return nil, nil
	}
	log.Warn("the previous process of this interface died without taking it down; taking over what it left on the host", "pid", st.PID)
	if link, err := netlink.LinkByName(prev.Link); err == nil && link.Attrs().Index == prev.LinkIndex {
		// Its link outlived it: nothing is shared with the new one.
		return nil, prev.Undo(ctx, log)
	}
	prev.Routes, prev.Addresses, prev.MTUBefore, prev.BroughtUp = nil, nil, 0, false
	return prev, nil
}
