package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel"
)

func pingCommand() *cli.Command {
	return &cli.Command{
		Name:      "ping",
		Usage:     "ping an address from inside a running netstack tunnel",
		ArgsUsage: "ADDR",
		Description: "A rootless tunnel has no kernel interface for ping(8) to use; wgu ping asks the\n" +
			"tunnel's own stack to send the echo requests. -I names the interface (default: the\n" +
			"only one running).",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Value: 0, Usage: "stop after `N` replies (default: until interrupted)"},
			&cli.StringFlag{Name: "interface", Aliases: []string{"I"}, Usage: "interface `NAME`"},
			&cli.DurationFlag{Name: "interval", Aliases: []string{"i"}, Value: time.Second, Usage: "time between requests"},
			&cli.DurationFlag{Name: "timeout", Aliases: []string{"W"}, Value: 2 * time.Second, Usage: "how long to wait for each reply"},
			runDirFlag,
		},
		Action: runPing,
	}
}

func runPing(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("expected one address to ping")
	}
	dst, err := netip.ParseAddr(c.Args().First())
	if err != nil {
		return fmt.Errorf("%q: expected an IP address", c.Args().First())
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cl, err := dialPingTarget(ctx, c.String("run-dir"), c.String("interface"))
	if err != nil {
		return err
	}
	defer cl.Close()
	sent, rtts, err := pingLoop(ctx, os.Stdout, cl, dst, c.Int("count"), c.Duration("interval"), c.Duration("timeout"))
	if err != nil {
		return err
	}
	printPingSummary(os.Stdout, dst, sent, rtts)
	if len(rtts) == 0 {
		return exitSilently(1) // as ping(8): no reply at all is a failure
	}
	return nil
}

// dialPingTarget connects to the control socket of interface name or, with
// no name, of the only interface this user can reach.
func dialPingTarget(ctx context.Context, runDir, name string) (*daemon.Client, error) {
	if name != "" {
		return daemon.Dial(ctx, runDir, name)
	}
	var reachable []*daemon.Client
	var names []string
	for _, n := range rundir.Interfaces(runDir) {
		if cl, err := daemon.Dial(ctx, runDir, n); err == nil {
			reachable = append(reachable, cl)
			names = append(names, n)
		}
	}
	if len(reachable) == 1 {
		return reachable[0], nil
	}
	for _, cl := range reachable {
		cl.Close()
	}
	if len(reachable) == 0 {
		return nil, fmt.Errorf("no running wgu interface found: %w", rundir.ErrNoInterface)
	}
	return nil, fmt.Errorf("%d interfaces are running (%s); say which with -I NAME", len(names), strings.Join(names, ", "))
}

// pingLoop sends requests until count replies (or forever with 0) or until
// ctx ends, printing ping(8)'s per-reply line.
func pingLoop(ctx context.Context, out io.Writer, cl *daemon.Client, dst netip.Addr, count int, interval, timeout time.Duration) (int, []time.Duration, error) {
	fmt.Fprintf(out, "PING %s through the tunnel: 56 data bytes\n", dst)
	var rtts []time.Duration
	sent := 0
	for seq := 1; count == 0 || sent < count; seq++ {
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		sent++
		rep, err := cl.Do(daemon.Request{Op: "ping", Addr: dst.String(), Seq: uint16(seq), Timeout: int64(timeout)})
		switch {
		case err == nil:
			rtt := time.Duration(rep.RTT)
			rtts = append(rtts, rtt)
			fmt.Fprintf(out, "64 bytes from %s: icmp_seq=%d time=%s\n", dst, seq, fmtRTT(rtt))
		case rep == nil || rep.Error == tunnel.ErrPingUnsupported.Error():
			// The control socket failed, or this tunnel cannot ping.
			return sent, rtts, err
		case isTimeout(rep.Error):
			fmt.Fprintf(out, "no reply from %s: icmp_seq=%d\n", dst, seq)
		default:
			// E.g. an ICMP error came back: a lost ping, as ping(8) counts it.
			fmt.Fprintf(out, "from %s: icmp_seq=%d %s\n", dst, seq, rep.Error)
		}
		if count != 0 && sent >= count {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(start.Add(interval))):
		}
	}
	return sent, rtts, nil
}

// isTimeout tells a lost reply (keep pinging) from a real error (stop).
func isTimeout(msg string) bool {
	return strings.Contains(msg, context.DeadlineExceeded.Error())
}

// printPingSummary prints ping(8)'s closing lines.
func printPingSummary(out io.Writer, dst netip.Addr, sent int, rtts []time.Duration) {
	fmt.Fprintf(out, "\n--- %s ping statistics ---\n", dst)
	loss := 0.0
	if sent > 0 {
		loss = 100 * float64(sent-len(rtts)) / float64(sent)
	}
	fmt.Fprintf(out, "%d packets transmitted, %d received, %.0f%% packet loss\n", sent, len(rtts), loss)
	if len(rtts) == 0 {
		return
	}
	sorted := append([]time.Duration(nil), rtts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var sum time.Duration
	for _, r := range sorted {
		sum += r
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	fmt.Fprintf(out, "rtt min/avg/max = %.3f/%.3f/%.3f ms\n", ms(sorted[0]), ms(sum/time.Duration(len(sorted))), ms(sorted[len(sorted)-1]))
}
