package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wgu-project/wgu/e2e"
)

// The flood rows: a TCP stream from A to B through the tunnel while a third
// namespace "f", linked to B only, sends B's WireGuard port handshake
// initiations with a valid MAC1 (benchmarks/internal/flood). B is the hub
// under attack; the figure is the share of the stream's throughput that
// survives, against the same stream without the flood in the same
// repetition.
const (
	kindFlood           = "flood"
	rowFloodWireguardGo = "flood-wireguard-go"
	rowFloodWguTUN      = "flood-wgu-tun"
)

// floodRates are the initiation rates measured, per second.
var floodRates = []int{20000, 50000}

var (
	floodHub = netip.MustParsePrefix("192.168.79.1/24") // B's end of the link to "f"
	floodSrc = netip.MustParsePrefix("192.168.79.2/24") // the attacker
)

// floodWarmup is how long the flood runs before the stream starts: long
// enough for the hub's handshake queue to back up and cookie replies to
// begin.
const floodWarmup = time.Second

// floodIdle is how long the hub's CPU is measured under the flood alone,
// between the warm-up and the stream: the CPU one initiation costs it.
const floodIdle = 3 * time.Second

func floodRows() []rowSpec {
	return []rowSpec{
		{id: rowFloodWireguardGo, name: "wireguard-go (upstream) under flood", kind: kindFlood, needsWg: true,
			setup: func(ctx context.Context, e *rowEnv) (*tunnelSetup, error) {
				return setupWireguardGo(ctx, e, e.bench.upstream)
			},
			desc: "the `wireguard-go` row's tunnel; one stream A→B alone, then while namespace F floods B's port with handshake " +
				"initiations (valid MAC1, random otherwise) at each rate, then alone again"},
		{id: rowFloodWguTUN, name: "wgu TUN under flood", kind: kindFlood, setup: setupWguTUN,
			desc: "the `wgu-tun` row's tunnel, measured as the row above"},
	}
}

// floodMetricInfos are the flood rows' figures.
func floodMetricInfos() []metricInfo {
	m := []metricInfo{{"flood_base_gbps", "no flood", "Gbit/s", true}}
	for _, r := range floodRates {
		k := floodKey(r)
		m = append(m,
			metricInfo{"flood_" + k + "_gbps", k + "/s flood", "Gbit/s", true},
			metricInfo{"flood_" + k + "_share", k + "/s: share kept", "%", true},
			metricInfo{"flood_" + k + "_sent", k + "/s: sent", "k/s", true},
			metricInfo{"flood_" + k + "_cpu_us", k + "/s: hub CPU per initiation", "µs", false},
			metricInfo{"flood_" + k + "_drop_pct", k + "/s: dropped by hub socket", "%", false},
			metricInfo{"flood_" + k + "_replies", k + "/s: cookie replies sent", "k/s", true},
		)
	}
	return m
}

// floodKey names a rate in metric keys and labels: 20000 → "20k".
func floodKey(rate int) string {
	if rate%1000 == 0 {
		return strconv.Itoa(rate/1000) + "k"
	}
	return strconv.Itoa(rate)
}

// floodResult is the flood generator's closing line.
type floodResult struct {
	Sent          int64   `json:"sent"`
	Seconds       float64 `json:"seconds"`
	CookieReplies int64   `json:"cookie_replies"`
	OtherReplies  int64   `json:"other_replies"`
}

// measureFlood takes a flood row's figures: the stream alone, under each
// flood rate, and alone again (the baseline is the mean of the two, so a
// drift of the machine's load during the repetition counts half).
func (b *bench) measureFlood(ctx context.Context, e *rowEnv, s *tunnelSetup, res *RepResult) error {
	if s.startup > 0 {
		res.Metrics["startup_ms"] = float64(s.startup) / float64(time.Millisecond)
	}
	f := e.lab.Netns("f")
	e.lab.Link(e.b, f, floodHub, floodSrc)
	server, err := startIperfServer(ctx, e.b, s.serverBind)
	if err != nil {
		return err
	}
	defer server.Signal(syscall.SIGKILL)

	stream := func() (iperfRun, error) {
		before, err := cpuSeconds(s.pids)
		if err != nil {
			return iperfRun{}, err
		}
		r, err := b.iperf(ctx, e.a, s, 1, false)
		if err != nil {
			return r, err
		}
		after, err := cpuSeconds(s.pids)
		r.CPUSeconds = after - before
		res.Iperf = append(res.Iperf, r)
		return r, err
	}
	first, err := stream()
	if err != nil {
		return err
	}
	type flooded struct {
		gbps    float64
		cpuUs   float64 // the hub's CPU per initiation sent, without the stream
		dropPct float64 // datagrams the hub's UDP sockets dropped (buffer full), per 100 sent
		replies float64 // datagrams the hub sent per second (cookie replies: the tunnel is idle)
		fr      floodResult
	}
	var under []flooded
	for _, rate := range floodRates {
		secs := int(b.opts.Duration.Seconds() + 0.999)
		dur := floodWarmup + floodIdle + time.Duration(secs)*time.Second + 2*time.Second
		p, err := f.StartEnv(nil, b.flood, "-to", netip.AddrPortFrom(floodHub.Addr(), uint16(wgPort)).String(),
			"-key", e.keyB.public, "-rate", strconv.Itoa(rate), "-duration", dur.String())
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.Done():
			return fmt.Errorf("flood generator exited early: %s", p.Stderr())
		case <-time.After(floodWarmup):
		}
		hub := s.pids[len(s.pids)-1:]
		cpu0, err := cpuSeconds(hub)
		if err != nil {
			return err
		}
		udp0, err := udpCounters(ctx, e.b)
		if err != nil {
			return err
		}
		t0 := time.Now()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(floodIdle):
		}
		cpu1, err := cpuSeconds(hub)
		if err != nil {
			return err
		}
		udp1, err := udpCounters(ctx, e.b)
		if err != nil {
			return err
		}
		sentIdle := time.Since(t0).Seconds() * float64(rate)
		cpuUs := (cpu1 - cpu0) / sentIdle * 1e6
		dropPct := 100 * float64(udp1["RcvbufErrors"]-udp0["RcvbufErrors"]) / sentIdle
		replies := float64(udp1["OutDatagrams"]-udp0["OutDatagrams"]) / time.Since(t0).Seconds()
		stopProfile := b.profileHub(ctx, s, fmt.Sprintf("%s-%s-rep", e.rowID, floodKey(rate)))
		r, err := stream()
		stopProfile()
		if err != nil {
			p.Signal(syscall.SIGKILL)
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, dur+10*time.Second)
		err = p.Wait(wctx)
		cancel()
		if err != nil {
			return fmt.Errorf("flood generator: %w: %s", err, p.Stderr())
		}
		var fr floodResult
		line := strings.TrimSpace(p.Stdout())
		if err := json.Unmarshal([]byte(line), &fr); err != nil || fr.Seconds <= 0 {
			return fmt.Errorf("flood generator output %q: %v", line, err)
		}
		under = append(under, flooded{r.Gbps, cpuUs, dropPct, replies, fr})
	}
	last, err := stream()
	if err != nil {
		return err
	}
	base := (first.Gbps + last.Gbps) / 2
	res.Metrics["flood_base_gbps"] = base
	for i, rate := range floodRates {
		k := floodKey(rate)
		u := under[i]
		res.Metrics["flood_"+k+"_gbps"] = u.gbps
		res.Metrics["flood_"+k+"_share"] = 100 * u.gbps / base
		res.Metrics["flood_"+k+"_replies"] = u.replies / 1000
		res.Metrics["flood_"+k+"_sent"] = float64(u.fr.Sent) / u.fr.Seconds / 1000
		res.Metrics["flood_"+k+"_cpu_us"] = u.cpuUs
		res.Metrics["flood_"+k+"_drop_pct"] = u.dropPct
	}
	return nil
}

// profileHub starts perf(1) recording the hub's (B's) CPU into
// ProfileDir/NAME-N.perf.data, when -profile is set; the returned function
// stops it.
func (b *bench) profileHub(ctx context.Context, s *tunnelSetup, name string) func() {
	if b.opts.ProfileDir == "" || len(s.pids) < 2 {
		return func() {}
	}
	if err := os.MkdirAll(b.opts.ProfileDir, 0o755); err != nil {
		b.log.Warn("no profile", "err", err)
		return func() {}
	}
	matches, _ := filepath.Glob(filepath.Join(b.opts.ProfileDir, name+"*.perf.data"))
	out := filepath.Join(b.opts.ProfileDir, fmt.Sprintf("%s%d.perf.data", name, len(matches)+1))
	cmd := exec.CommandContext(ctx, "perf", "record", "-q", "-F", "499", "-g", "-p", strconv.Itoa(s.pids[1]), "-o", out)
	if err := cmd.Start(); err != nil {
		b.log.Warn("no profile", "err", err)
		return func() {}
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		b.log.Info("profile written", "file", out)
	}
}

// udpCounters reads the Udp line of /proc/net/snmp in ns.
func udpCounters(ctx context.Context, ns *e2e.Netns) (map[string]int64, error) {
	out, err := run(ctx, ns, "cat", "/proc/net/snmp")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		m := map[string]int64{}
		for i, v := range f[1:] {
			if i < len(names) {
				m[names[i]], _ = strconv.ParseInt(v, 10, 64)
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("%s: no Udp counters in /proc/net/snmp", ns.Role)
}
