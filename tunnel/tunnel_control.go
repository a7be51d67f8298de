package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/wgu-project/wgu/internal/daemon"
)

// ErrPingUnsupported is returned by Ping on a tunnel whose backend cannot
// send pings itself (the kernel TUN: use ping(8) there).
var ErrPingUnsupported = errors.New("ping from inside the tunnel needs netstack mode; in TUN mode use ping(8)")

func (t *Tunnel) handleControl(req daemon.Request) daemon.Reply {
	switch req.Op {
	case "info":
		rep := daemon.Reply{Mode: string(t.mode), PID: os.Getpid(), Services: t.serviceLines(), Goroutines: runtime.NumGoroutine()}
		if t.ns != nil {
			rep.Counters = t.ns.Counters()
		}
		return rep
	case "ping":
		addr, err := netip.ParseAddr(req.Addr)
		if err != nil {
			return daemon.Reply{Error: fmt.Sprintf("ping: %q is not an IP address", req.Addr)}
		}
		timeout := time.Duration(req.Timeout)
		if timeout <= 0 || timeout > time.Minute {
			timeout = 5 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		rtt, err := t.Ping(ctx, addr, req.Seq)
		if err != nil {
			return daemon.Reply{Error: err.Error()}
		}
		return daemon.Reply{RTT: int64(rtt)}
	case "reload":
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		warnings, err := t.reloadConfig(ctx)
		rep := daemon.Reply{}
		for _, w := range warnings {
			rep.Warnings = append(rep.Warnings, w.String())
		}
		if err != nil {
			t.log.Error("reload failed", "err", err)
			rep.Error = err.Error()
		}
		return rep
	case "external-hooks":
		// `wgu down` runs PreDown and PostDown itself, on its own terminal,
		// around the SIGTERM it sends next.
		t.hooksByCaller.Store(true)
		return daemon.Reply{}
	}
	return daemon.Reply{Error: fmt.Sprintf("unknown op %q", req.Op)}
}
