// Command benchmarks compares the throughput, latency, CPU cost, memory and
// start-up time of WireGuard implementations in one run, between two
// network namespaces joined by a veth pair:
//
//   - raw veth (no tunnel: the ceiling),
//   - kernel WireGuard (where the module is available),
//   - upstream wireguard-go on a TUN, built at the version go.mod pins (and
//     Debian's wireguard-go when one is on PATH),
//   - wgu on a TUN on both sides,
//   - wgu on its netstack on one side (reached through --forward) against
//     wgu on a TUN,
//   - wgu on its netstack on both sides (--forward and --expose).
//
// It needs root, /dev/net/tun, iproute2, iperf3, ping, wireguard-tools and
// a Go toolchain (it builds wgu and wireguard-go):
//
//	sudo go run ./benchmarks [-reps 3] [-duration 10s] [-smoke] [-loss] [-out benchmarks/results]
//
// -loss adds issue 18's figures for the TUN and netstack rows: single-stream
// throughput at 1 % and 5 % random underlay loss, and the time from a new
// handshake to full speed after side B's tunnel restarts (loss.go).
//
// Results go to results.json, results.md and chart.svg under -out.
// Only the lab's namespaces and their loopbacks ever carry traffic.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wgu-project/wgu/e2e"
)

// Options are the suite's settings (its flags).
type Options struct {
	Reps     int
	Duration time.Duration
	Smoke    bool
	// Loss adds the lossy-underlay and restart figures of the TUN and
	// netstack rows (loss.go).
	Loss bool
	Out  string
	Rows []string // row ids to run; empty: all (or the smoke set)
	// ProfileDir, when set, receives a perf(1) CPU profile of the flooded
	// hub (B) during each flooded stream of the flood rows.
	ProfileDir string
}

func main() {
	var o Options
	var rows string
	flag.IntVar(&o.Reps, "reps", 3, "repetitions of every row (figures are medians)")
	flag.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each iperf3 run")
	flag.BoolVar(&o.Smoke, "smoke", false, "quick check for CI: 1 rep, 2s runs, 1 stream, rows veth, wgu-tun, wgu-netstack-1")
	flag.BoolVar(&o.Loss, "loss", false, "also measure wgu-tun and wgu-netstack-1 at 1 % and 5 % underlay loss and through a restart of side B (about 1 min more per row and rep)")
	flag.StringVar(&o.Out, "out", "benchmarks/results", "directory for results.json, results.md and chart.svg")
	flag.StringVar(&o.ProfileDir, "profile", "", "directory for perf CPU profiles of the flooded hub in the flood rows (needs perf)")
	flag.StringVar(&rows, "rows", "", "comma-separated row ids to run (default: all): "+strings.Join(rowIDs(), ","))
	flag.Parse()
	if rows != "" {
		o.Rows = strings.Split(rows, ",")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-ctx.Done()
		// A second signal kills the process at once; the next run sweeps
		// whatever namespaces that leaves behind.
		stop()
	}()
	rep, err := Run(ctx, log, o)
	stop()
	if err != nil {
		log.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
	if failed := rep.failedRows(); len(failed) > 0 {
		log.Error("some rows failed", "rows", strings.Join(failed, ","))
		os.Exit(1)
	}
}

// Run runs the suite and writes its results under o.Out. Rows that cannot
// run here are reported as skipped; rows that fail are reported with their
// errors (see Report.failedRows). The error is for what stops the whole
// suite: no prerequisites, a failed build, an interrupt.
func Run(ctx context.Context, log *slog.Logger, o Options) (*Report, error) {
	if o.Smoke {
		o.Reps, o.Duration = 1, 2*time.Second
	}
	if o.Reps < 1 {
		return nil, fmt.Errorf("-reps %d: need at least one", o.Reps)
	}
	if o.Duration < time.Second {
		return nil, fmt.Errorf("-duration %s: need at least 1s", o.Duration)
	}
	if reason := missingPrerequisite(); reason != "" {
		return nil, errors.New("cannot run the benchmarks (sudo go run ./benchmarks): " + reason)
	}
	specs, err := selectRows(o)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "wgu-bench-")
	if err != nil {
		return nil, fmt.Errorf("making a temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	b := &bench{log: log, opts: o, tmp: tmp}
	report := &Report{Machine: describeMachine(ctx), Settings: settingsOf(o), Metrics: metricInfos(), FloodMetrics: floodMetricInfos()}
	if o.Loss {
		report.Metrics = append(report.Metrics, lossMetricInfos()...)
	}
	if err := b.buildAll(ctx, specs, report); err != nil {
		return nil, err
	}
	results := make([]*RowResult, len(specs))
	for i, s := range specs {
		results[i] = &RowResult{ID: s.id, Name: s.name, Kind: s.kind, Description: s.desc, Skipped: b.skipReason(s)}
	}
	for rep := 1; rep <= o.Reps && ctx.Err() == nil; rep++ {
		for i, s := range specs {
			r := results[i]
			if r.Skipped != "" || ctx.Err() != nil {
				continue
			}
			log.Info("running", "row", s.id, "rep", rep, "of", o.Reps)
			res, err := b.runRep(ctx, s)
			var skip skipError
			switch {
			case errors.As(err, &skip):
				r.Skipped = skip.reason
				log.Info("row skipped", "row", s.id, "reason", skip.reason)
			case err != nil:
				r.Errors = append(r.Errors, fmt.Sprintf("rep %d: %v", rep, err))
				log.Error("rep failed", "row", s.id, "rep", rep, "err", err)
			default:
				log.Info("rep done", "row", s.id, "rep", rep, "figures", fmtMetrics(res.Metrics))
			}
			if res != nil {
				r.Notes = appendUnique(r.Notes, res.notes...)
				if err == nil {
					r.Reps = append(r.Reps, *res)
				}
			}
		}
	}
	report.Rows = results
	report.summarize()
	if err := report.write(o.Out); err != nil {
		return report, err
	}
	log.Info("results written", "dir", o.Out)
	if ctx.Err() != nil {
		return report, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return report, nil
}

// missingPrerequisite returns why the suite cannot run here, or "".
func missingPrerequisite() string {
	return e2e.MissingPrerequisite("ss", "ping", "iperf3", "go")
}

func appendUnique(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, x := range list {
			found = found || x == it
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}
