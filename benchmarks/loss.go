package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wgu-project/wgu/e2e"
)

// With -loss, the TUN and netstack rows (wgu-tun, wgu-netstack-1) are also
// measured on a lossy underlay and through a restart of side B, issue 18's
// figures. The recipe is the e2e lossy-underlay lab's: nftables drops P % of
// the WireGuard datagrams at random at the input hook of both namespaces (so
// both directions lose P %), with segmentation and receive offloads off on
// the veth so that a drop is one datagram, not a GSO bundle of them. Kernel
// TCP runs cubic there, the reference issue 18 names.
var lossPercents = []int{1, 5}

const (
	// restartOutage is how long side B stays down.
	restartOutage = 3 * time.Second
	// restartLead is how long the stream runs before B goes down; the rate
	// over its last two seconds is the speed to get back to.
	restartLead = 4 * time.Second
	// restartRun bounds the stream: A notices the dead session only after
	// WireGuard's 15 s without a reply, so the new handshake comes about
	// 15-20 s after B went down.
	restartRun = 40 * time.Second
)

func lossKey(pct int, reverse bool) string {
	dir := "ab"
	if reverse {
		dir = "ba"
	}
	return fmt.Sprintf("gbps_1_%s_loss%d", dir, pct)
}

// lossMetricInfos are the figures -loss adds.
func lossMetricInfos() []metricInfo {
	var out []metricInfo
	for _, pct := range lossPercents {
		out = append(out,
			metricInfo{lossKey(pct, false), fmt.Sprintf("1 stream A→B, %d %% loss", pct), "Gbit/s", true},
			metricInfo{lossKey(pct, true), fmt.Sprintf("1 stream B→A, %d %% loss", pct), "Gbit/s", true})
	}
	return append(out, metricInfo{"recover_s", "A→B back at speed after B restarts", "s", false})
}

// measureLossAndRestart takes the -loss figures of a row that supports them
// (s.restartB set). It runs last in a rep: it leaves the veth's offloads
// off and side B restarted.
func (b *bench) measureLossAndRestart(ctx context.Context, e *rowEnv, s *tunnelSetup, res *RepResult) error {
	if !b.opts.Loss || s.restartB == nil {
		return nil
	}
	if reason := e2e.MissingPrerequisite("nft", "ethtool"); reason != "" {
		e.notes = appendUnique(e.notes, "-loss figures skipped: "+reason)
		return nil
	}
	for _, x := range []struct {
		ns  *e2e.Netns
		ifn string
	}{{e.link.A, e.link.AIf}, {e.link.B, e.link.BIf}} {
		if _, err := run(ctx, x.ns, "ethtool", "-K", x.ifn, "gso", "off", "gro", "off", "tso", "off", "tx-udp-segmentation", "off"); err != nil {
			return fmt.Errorf("turning offloads off: %w", err)
		}
	}
	for _, pct := range lossPercents {
		if err := e.setLoss(ctx, pct); err != nil {
			return err
		}
		for _, reverse := range []bool{false, true} {
			// Kernel TCP on cubic, both ends (iperf3 passes -C to its server),
			// as issue 18 asks: this VM's default, BBR, does not back off
			// on random loss at all, so it would measure a different thing.
			r, err := b.iperf(ctx, e.a, s, 1, reverse, "-C", "cubic")
			if err != nil {
				return fmt.Errorf("%d %% loss: %w", pct, err)
			}
			res.Metrics[lossKey(pct, reverse)] = r.Gbps
		}
	}
	if err := e.setLoss(ctx, 0); err != nil {
		return err
	}
	d, err := b.measureRestart(ctx, e, s)
	var slow notBackError
	switch {
	case errors.As(err, &slow):
		// Counted as the time it was watched, a lower bound, so that the
		// median does not forget the reps that never recovered.
		e.notes = appendUnique(e.notes, "restart of B: "+err.Error()+" (counted as that)")
		res.Metrics["recover_s"] = slow.watched.Seconds()
	case err != nil:
		e.notes = appendUnique(e.notes, "restart of B: "+err.Error())
	default:
		res.Metrics["recover_s"] = d.Seconds()
	}
	return nil
}

// setLoss makes both namespaces drop pct % of incoming WireGuard datagrams
// (0: none).
func (e *rowEnv) setLoss(ctx context.Context, pct int) error {
	for _, ns := range []*e2e.Netns{e.a, e.b} {
		ns.Run(ctx, "nft", "delete", "table", "inet", "wgubenchloss")
		if pct == 0 {
			continue
		}
		rules := fmt.Sprintf("table inet wgubenchloss {\n\tchain input {\n\t\ttype filter hook input priority -10; policy accept;\n"+
			"\t\tudp dport %d numgen random mod 100 < %d drop\n\t}\n}\n", wgPort, pct)
		if _, errOut, err := ns.RunStdin(ctx, rules, "nft", "-f", "-"); err != nil {
			return fmt.Errorf("setting %d %% loss with nft: %w: %s", pct, err, strings.TrimSpace(errOut))
		}
	}
	return nil
}

// measureRestart streams A→B, restarts B's tunnel (wgu down, restartOutage,
// wgu up) and returns how long after B's new handshake the stream was back
// at half its earlier rate over a second, from the iperf3 server's
// (receiver's) 100 ms intervals.
func (b *bench) measureRestart(ctx context.Context, e *rowEnv, s *tunnelSetup) (time.Duration, error) {
	args := []string{"iperf3", "-c", s.target.String(), "-p", strconv.Itoa(perfPrt), "-t", strconv.Itoa(int(restartRun / time.Second)),
		"-i", "0.1", "-J", "--get-server-output"}
	start := time.Now()
	client, err := e.a.StartEnv(nil, args...)
	if err != nil {
		return 0, err
	}
	defer client.Signal(syscall.SIGKILL)
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(restartLead):
	}
	down := time.Now()
	if err := s.restartB(ctx, restartOutage); err != nil {
		return 0, err
	}
	_, bEnd := e.ends()
	var handshake time.Time
	err = waitFor(ctx, restartRun-time.Since(start), "B's new handshake", func() (bool, error) {
		out, err := run(ctx, e.b, e.bench.wgu, "show", bEnd.ifName, "latest-handshakes")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); err == nil && len(f) == 2 && f[1] != "0" {
				handshake = time.Now()
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, restartRun+30*time.Second)
	defer cancel()
	if err := client.Wait(wctx); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, client.Stderr())
	}
	pts, err := serverProgress(client.Stdout(), start)
	if err != nil {
		return 0, err
	}
	before := progressRate(pts, down.Add(-2*time.Second), down)
	if before <= 0 {
		return 0, fmt.Errorf("no progress before B went down")
	}
	for _, p := range pts {
		if p.at.Before(handshake) {
			continue
		}
		if progressRate(pts, p.at, p.at.Add(time.Second)) >= before/2 {
			// The interval that reached the rate began up to 100 ms before
			// its end, which may precede the handshake.
			return max(0, p.at.Sub(handshake)), nil
		}
	}
	return 0, notBackError{before, start.Add(restartRun).Sub(handshake)}
}

// notBackError: the stream was not back at speed when its run ended.
type notBackError struct {
	before  float64       // bytes/s before the restart
	watched time.Duration // from the handshake to the end of the run
}

func (e notBackError) Error() string {
	return fmt.Sprintf("not back to half of %.1f MB/s within %v of the handshake", e.before/1e6, e.watched.Round(time.Second))
}

// progressPoint is the receiver's byte count at a moment.
type progressPoint struct {
	at    time.Time
	bytes float64
}

// serverProgress turns the iperf3 server's intervals (in the client's
// --get-server-output JSON) into cumulative byte counts, taking the
// client's start as the test's start (the connection set-up, a few round
// trips, is the error).
func serverProgress(out string, start time.Time) ([]progressPoint, error) {
	var res struct {
		Error  string `json:"error"`
		Server struct {
			Intervals []struct {
				Sum struct {
					End   float64 `json:"end"`
					Bytes float64 `json:"bytes"`
				} `json:"sum"`
			} `json:"intervals"`
		} `json:"server_output_json"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return nil, fmt.Errorf("iperf3 output not JSON: %w", err)
	}
	if res.Error != "" {
		return nil, fmt.Errorf("iperf3: %s", res.Error)
	}
	var pts []progressPoint
	total := 0.0
	for _, iv := range res.Server.Intervals {
		total += iv.Sum.Bytes
		pts = append(pts, progressPoint{start.Add(time.Duration(iv.Sum.End * float64(time.Second))), total})
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("iperf3 reported no server intervals")
	}
	return pts, nil
}

// progressRate is the receive rate (bytes/s) between the first point at or
// after from and the last at or before to.
func progressRate(pts []progressPoint, from, to time.Time) float64 {
	var a, z *progressPoint
	for i := range pts {
		if a == nil && !pts[i].at.Before(from) {
			a = &pts[i]
		}
		if !pts[i].at.After(to) {
			z = &pts[i]
		}
	}
	if a == nil || z == nil || !z.at.After(a.at) {
		return 0
	}
	return (z.bytes - a.bytes) / z.at.Sub(a.at).Seconds()
}
