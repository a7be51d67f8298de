package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wgu-project/wgu/e2e"
)

// pingCount and pingInterval are the RTT sample: 50 pings 10 ms apart.
const (
	pingCount    = 50
	pingInterval = 10 * time.Millisecond
)

// userHZ is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

// pinger returns count round-trip times in milliseconds.
type pinger func(ctx context.Context, count int, interval time.Duration) ([]float64, error)

// rttPattern matches the time of a reply line of ping(8) and `wgu ping`.
var rttPattern = regexp.MustCompile(`time=([0-9.]+) ms`)

func parseRTTs(out string) []float64 {
	var rtts []float64
	for _, m := range rttPattern.FindAllStringSubmatch(out, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			rtts = append(rtts, v)
		}
	}
	return rtts
}

// kernelPinger pings addr with ping(8) from ns.
func kernelPinger(ns *e2e.Netns, addr netip.Addr) pinger {
	return func(ctx context.Context, count int, interval time.Duration) ([]float64, error) {
		out, err := run(ctx, ns, "ping", "-n", "-c", strconv.Itoa(count), "-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64), "-W", "1", addr.String())
		if rtts := parseRTTs(out); len(rtts) > 0 {
			return rtts, nil
		}
		return nil, fmt.Errorf("ping %s: no reply: %w", addr, err)
	}
}

// wguPinger pings addr with `wgu ping` from the netstack of s.
func (e *rowEnv) wguPinger(s end, addr netip.Addr) pinger {
	return func(ctx context.Context, count int, interval time.Duration) ([]float64, error) {
		out, err := run(ctx, s.ns, e.bench.wgu, "ping", "-I", s.ifName, "-c", strconv.Itoa(count), "-i", interval.String(), "-W", "1s", addr.String())
		if rtts := parseRTTs(out); len(rtts) > 0 {
			return rtts, nil
		}
		return nil, fmt.Errorf("wgu ping %s: no reply: %w", addr, err)
	}
}

// iperfRun is one iperf3 run.
type iperfRun struct {
	Streams     int     `json:"streams"`
	Reverse     bool    `json:"reverse"` // -R: data flows from b to a
	Gbps        float64 `json:"gbps"`    // at the receiver
	Bytes       int64   `json:"bytes"`   // received
	Retransmits int     `json:"retransmits"`
	CPUSeconds  float64 `json:"cpu_seconds"` // of the tunnel processes; 0 without any
}

// metricKey names the throughput metric of a run.
func (r iperfRun) metricKey() string {
	dir := "ab"
	if r.Reverse {
		dir = "ba"
	}
	return fmt.Sprintf("gbps_%d_%s", r.Streams, dir)
}

// iperfResult is the part of iperf3 -J output the suite reads.
type iperfResult struct {
	Error string `json:"error"`
	End   struct {
		SumSent struct {
			Retransmits int `json:"retransmits"`
		} `json:"sum_sent"`
		SumReceived struct {
			Bytes         int64   `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
}

// streamCounts are the iperf3 -P values measured: in smoke mode only 1.
func (b *bench) streamCounts() []int {
	if b.opts.Smoke {
		return []int{1}
	}
	return []int{1, 4}
}

// measure takes the figures of one running setup into res.
func (b *bench) measure(ctx context.Context, e *rowEnv, s *tunnelSetup, res *RepResult) error {
	if s.startup > 0 {
		res.Metrics["startup_ms"] = float64(s.startup) / float64(time.Millisecond)
	}
	if s.ping != nil {
		rtts, err := s.ping(ctx, pingCount, pingInterval)
		if err != nil {
			return err
		}
		res.PingMs = rtts
		sorted := slices.Sorted(slices.Values(rtts))
		res.Metrics["ping_p50_ms"] = percentile(sorted, 0.50)
		res.Metrics["ping_p99_ms"] = percentile(sorted, 0.99)
	}

	if !s.serverRunning {
		var extra []string
		if b.opts.Loss && s.restartB != nil {
			// measureRestart reads the server's 100 ms intervals.
			extra = []string{"-J", "-i", "0.1"}
		}
		server, err := startIperfServer(ctx, e.b, s.serverBind, extra...)
		if err != nil {
			return err
		}
		defer server.Signal(syscall.SIGKILL)
	}

	var cpu, gb float64
	for _, streams := range b.streamCounts() {
		for _, reverse := range []bool{false, true} {
			before, err := cpuSeconds(s.pids)
			if err != nil {
				return err
			}
			r, err := b.iperf(ctx, e.a, s, streams, reverse)
			if err != nil {
				return err
			}
			after, err := cpuSeconds(s.pids)
			if err != nil {
				return err
			}
			r.CPUSeconds = after - before
			cpu += r.CPUSeconds
			gb += float64(r.Bytes) / 1e9
			res.Iperf = append(res.Iperf, r)
			res.Metrics[r.metricKey()] = r.Gbps
		}
	}
	if len(s.pids) > 0 {
		if gb > 0 {
			res.Metrics["cpu_s_per_gb"] = cpu / gb
		}
		var peak int64
		var peaks []int64
		for _, pid := range s.pids {
			kb, err := vmHWM(pid)
			if err != nil {
				return err
			}
			peak = max(peak, kb)
			peaks = append(peaks, kb)
		}
		if s.pidsAB && len(peaks) == 2 {
			res.Metrics[peakRSSAKey] = float64(peaks[0]) / 1024
			res.Metrics[peakRSSBKey] = float64(peaks[1]) / 1024
		}
		res.Metrics["peak_rss_mib"] = float64(peak) / 1024
	}
	return b.measureLossAndRestart(ctx, e, s, res)
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// startIperfServer starts iperf3 -s in ns (bound to bind if valid, with
// extra arguments) and waits until it listens.
func startIperfServer(ctx context.Context, ns *e2e.Netns, bind netip.Addr, extra ...string) (*e2e.Proc, error) {
	args := append([]string{"iperf3", "-s", "-p", strconv.Itoa(perfPrt)}, extra...)
	if bind.IsValid() {
		args = append(args, "-B", bind.String())
	}
	p, err := ns.StartEnv(nil, args...)
	if err != nil {
		return nil, err
	}
	err = waitFor(ctx, 10*time.Second, "iperf3 -s to listen", func() (bool, error) {
		select {
		case <-p.Done():
			return false, fmt.Errorf("iperf3 -s exited: %s%s", p.Stdout(), p.Stderr())
		default:
		}
		out, err := run(ctx, ns, "ss", "-Hltn", fmt.Sprintf("sport = :%d", perfPrt))
		return err == nil && strings.TrimSpace(out) != "", nil
	})
	return p, err
}

// iperf runs the iperf3 client in ns against target, retrying a run the
// server turned away (busy, still closing the last test).
func (b *bench) iperf(ctx context.Context, ns *e2e.Netns, s *tunnelSetup, streams int, reverse bool, extra ...string) (iperfRun, error) {
	secs := int(math.Ceil(b.opts.Duration.Seconds()))
	args := append(slices.Clone(s.client), "iperf3", "-c", s.target.String(), "-p", strconv.Itoa(perfPrt), "-t", strconv.Itoa(secs), "-P", strconv.Itoa(streams), "-J")
	if reverse {
		args = append(args, "-R")
	}
	args = append(args, extra...)
	r := iperfRun{Streams: streams, Reverse: reverse}
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return r, ctx.Err()
			case <-time.After(time.Second):
			}
		}
		rctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
		out, errOut, err := ns.Run(rctx, args...)
		cancel()
		var res iperfResult
		if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
			last = fmt.Errorf("%s: %w (output not JSON: %v): %s", strings.Join(args, " "), err, jerr, strings.TrimSpace(errOut))
			continue
		}
		if res.Error != "" || err != nil {
			last = fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, res.Error)
			continue
		}
		r.Gbps = res.End.SumReceived.BitsPerSecond / 1e9
		r.Bytes = res.End.SumReceived.Bytes
		r.Retransmits = res.End.SumSent.Retransmits
		if r.Bytes == 0 {
			last = fmt.Errorf("%s: no data received", strings.Join(args, " "))
			continue
		}
		return r, nil
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, last
}

// cpuSeconds is the user+system CPU time of the processes so far.
func cpuSeconds(pids []int) (float64, error) {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, fmt.Errorf("reading CPU time of tunnel process %d: %w", pid, err)
		}
		// Fields after the command name (which may hold spaces) start at
		// the state, field 3; utime and stime are fields 14 and 15.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if i < 0 || len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
		}
		for _, s := range f[11:13] {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
			}
			ticks += v
		}
	}
	return float64(ticks) / userHZ, nil
}

// vmHWM is the peak resident set size of pid in KiB.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading peak RSS of tunnel process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: VmHWM %q: %w", pid, v, err)
			}
			return kb, nil
		}
	}
	return 0, errors.New("/proc/" + strconv.Itoa(pid) + "/status has no VmHWM")
}
