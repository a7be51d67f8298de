package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkHub10kPeers brings up a hub with 10,000 peers (one of them a
// real spoke that must answer a ping) as wgu on a TUN, wgu on a netstack
// and upstream wireguard-go configured by `wg setconf`, in the same run,
// and reports for each the median of a few reps: the time `up` takes, the
// daemon's VmRSS after up (at once, when the spoke's ping came back, and
// again 2 s later, to show what a daemon does to its memory right after up;
// then its anonymous part, without the binary's pages), the time of `wgu show dump` (`wg show dump` for upstream; each
// rep the median of showRuns) and of a reload after one peer changed (`wg
// syncconf` for upstream; the changed file is written before the clock
// starts), with wgu's figures as ratios to upstream's. Show and reload are
// also measured as the CPU time the daemon spent on them (wireguard-go's
// for upstream), which a loaded machine disturbs less than their
// wall-clock time; show-cli-cpu-ms is the CPU time of the show command
// itself (`wgu show`, `wg show`).
//
//	sudo go test -run '^$' -bench Hub10kPeers -benchtime 1x ./e2e
//
// With WGU_BENCH_BASE naming another wgu binary (an older build), its
// figures are measured in the same run as "base-tun" and "base-netstack",
// so a change is measured before and after under the same load.
func BenchmarkHub10kPeers(b *testing.B) {
	RequireE2E(b)
	if reason := MissingPrerequisite("wg", "ip"); reason != "" {
		skipOrFail(b, reason)
	}
	const peers, reps = 10000, 3
	upstream := buildUpstreamWireguardGo(b)
	kinds := []string{"upstream", "wgu-tun", "wgu-netstack"}
	if os.Getenv(scaleBaseEnv) != "" {
		kinds = append(kinds, "base-tun", "base-netstack")
	}
	results := map[string]map[string][]float64{}
	for _, k := range kinds {
		results[k] = map[string][]float64{}
	}
	for rep := 0; rep < reps; rep++ {
		// Interleaved, so that load changes hit all alike, in an order
		// that differs from rep to rep in which kind follows which: an A/A
		// run (one binary as wgu-* and base-*) measured the kinds right
		// after upstream's 1.1-1.2x slower at up. Rotating alone keeps the
		// cyclic order; the stride (coprime with 3 and 5 kinds) changes it.
		stride := rep%(len(kinds)-1) + 1
		for i := range kinds {
			kind := kinds[(rep+i*stride)%len(kinds)]
			m := hubScaleRun(b, kind, peers, upstream)
			for name, v := range m {
				results[kind][name] = append(results[kind][name], v)
			}
		}
	}
	metrics := []string{"up-s", "rss-MiB", "rss-2s-MiB", "rss-anon-MiB", "show-ms", "show-cpu-ms", "show-cli-cpu-ms", "reload-ms", "reload-cpu-ms"}
	ref := map[string]float64{}
	for _, name := range metrics {
		ref[name] = median(results["upstream"][name])
	}
	for _, kind := range kinds {
		var line []string
		for _, name := range metrics {
			v := median(results[kind][name])
			line = append(line, fmt.Sprintf("%s %.3g (%.2fx)", name, v, v/ref[name]))
		}
		b.Logf("N=%d, median of %d: %-13s %s", peers, reps, kind, strings.Join(line, ", "))
	}
	for _, mode := range []string{"tun", "netstack"} {
		base := results["base-"+mode]
		if base == nil {
			continue
		}
		var line []string
		for _, name := range metrics {
			line = append(line, fmt.Sprintf("%s %.2fx", name, median(results["wgu-"+mode][name])/median(base[name])))
		}
		b.Logf("N=%d, median of %d: wgu-%s / base-%s: %s", peers, reps, mode, mode, strings.Join(line, ", "))
	}
}

// scaleBaseEnv names a second wgu binary BenchmarkHub10kPeers measures
// alongside the one under test.
const scaleBaseEnv = "WGU_BENCH_BASE"

// showRuns is how many times each rep of BenchmarkHub10kPeers runs show.
const showRuns = 5

// hubScaleRun does one rep of BenchmarkHub10kPeers for kind in a fresh lab.
func hubScaleRun(b *testing.B, kind string, peers int, upstream string) map[string]float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lab := NewLab(b)
	defer lab.Close()
	hub, spoke := lab.Netns("hub"), lab.Netns("spoke")
	hubU, spokeU := netip.MustParsePrefix("192.168.77.1/24"), netip.MustParsePrefix("192.168.77.2/24")
	lab.Link(hub, spoke, hubU, spokeU)
	hubIf, spokeIf := lab.IfName("hub"), lab.IfName("sp")
	dir := b.TempDir()
	hubKey, spokeKey := newKeyPair(b), newKeyPair(b)
	hubAddr, spokeAddr := netip.MustParseAddr("10.100.0.1"), netip.MustParseAddr("10.100.0.2")

	// Peers 10.100.0.2 (the spoke) .. 10.100.x.y, inside the hub's /16.
	peerBlock := func(changed int) string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\n\n", spokeKey.Public, spokeAddr)
		raw := make([]byte, 32)
		for i := 1; i < peers; i++ {
			// Deterministic fake keys so a reload changes only the one peer.
			copy(raw, fmt.Sprintf("wgu-scale-peer-%08d-xxxxxxxxxxxx", i))
			ip := netip.AddrFrom4([4]byte{10, 100, byte((i + 2) / 250), byte((i+2)%250 + 2)})
			ka := ""
			if i == changed {
				ka = "PersistentKeepalive = 21\n"
			}
			fmt.Fprintf(&sb, "[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\n%s\n", base64.StdEncoding.EncodeToString(raw), ip, ka)
		}
		return sb.String()
	}
	iface := fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = %d\n", hubKey.Private, hubPort)
	wguHead := iface + fmt.Sprintf("Address = %s/16\n\n", hubAddr)
	spokeConf := writeConfig(b, dir, spokeIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/16

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 10.100.0.0/16
`, spokeKey.Private, spokeAddr, hubKey.Public, hubU.Addr(), hubPort))
	mustWgu(ctx, b, spoke, "up", "--mode", "tun", "-c", spokeConf)
	defer wgu(context.Background(), b, spoke, "down", spokeIf)

	out := map[string]float64{}
	var pid int
	// writeNext writes the config with one peer changed, before the clock
	// starts: the test making a file of 10,000 peers is not the reload.
	var show func() (cli time.Duration, err error)
	var writeNext, reload func() error
	switch kind {
	case "upstream":
		setconf := filepath.Join(dir, "hub.setconf")
		if err := os.WriteFile(setconf, []byte(iface+"\n"+peerBlock(0)), 0o600); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		p, err := hub.StartEnv([]string{"WG_PROCESS_FOREGROUND=1"}, upstream, "-f", hubIf)
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			// Gone before the next kind's up: tearing down 10,000 peers
			// takes a while, and would be measured there.
			p.Signal(15)
			p.Wait(context.Background())
		}()
		if err := waitFor(ctx, "wireguard-go's socket", func() bool {
			_, err := os.Stat(socketPath(hubIf))
			return err == nil
		}); err != nil {
			b.Fatalf("%v\n%s", err, p.Stderr())
		}
		hub.MustRun("wg", "setconf", hubIf, setconf)
		hub.MustRun("ip", "addr", "add", hubAddr.String()+"/16", "dev", hubIf)
		hub.MustRun("ip", "link", "set", hubIf, "up")
		out["up-s"] = time.Since(start).Seconds()
		pid = p.Pid()
		show = func() (time.Duration, error) { return runCPU(ctx, hub, "wg", "show", hubIf, "dump") }
		writeNext = func() error { return os.WriteFile(setconf, []byte(iface+"\n"+peerBlock(peers/2)), 0o600) }
		reload = func() error {
			_, errOut, err := hub.Run(ctx, "wg", "syncconf", hubIf, setconf)
			if err != nil {
				return fmt.Errorf("wg syncconf: %v: %s", err, errOut)
			}
			return nil
		}
	default:
		bin, mode := wguBinary(b), strings.TrimPrefix(kind, "wgu-")
		if m, ok := strings.CutPrefix(kind, "base-"); ok {
			bin, mode = os.Getenv(scaleBaseEnv), m
		}
		run := func(ctx context.Context, args ...string) (string, string, error) {
			return hub.Run(ctx, append([]string{bin}, args...)...)
		}
		conf := writeConfig(b, dir, hubIf, wguHead+peerBlock(0))
		start := time.Now()
		if _, errOut, err := run(ctx, "up", "--mode", mode, "-c", conf); err != nil {
			b.Fatalf("%s: up: %v\n%s", kind, err, errOut)
		}
		out["up-s"] = time.Since(start).Seconds()
		defer run(context.Background(), "down", hubIf)
		pid = daemonPID(ctx, b, hub, hubIf)
		show = func() (time.Duration, error) { return runCPU(ctx, hub, bin, "show", hubIf, "dump") }
		writeNext = func() error { writeConfig(b, dir, hubIf, wguHead+peerBlock(peers/2)); return nil }
		reload = func() error {
			_, errOut, err := run(ctx, "reload", hubIf)
			if err != nil {
				return fmt.Errorf("wgu reload: %v: %s", err, errOut)
			}
			return nil
		}
	}
	if err := spoke.Ping(ctx, hubAddr); err != nil {
		b.Fatalf("%s: the real spoke cannot reach the hub: %v", kind, err)
	}
	rss, err := vmRSS(pid)
	if err != nil {
		b.Fatal(err)
	}
	out["rss-MiB"] = rss
	time.Sleep(2 * time.Second)
	if out["rss-2s-MiB"], err = vmRSS(pid); err != nil {
		b.Fatal(err)
	}
	// The anonymous part: wgu's binary is five times upstream's, and its
	// resident pages of code and data count in VmRSS too.
	if out["rss-anon-MiB"], err = statusMiB(pid, "RssAnon"); err != nil {
		b.Fatal(err)
	}
	// Show takes tens of milliseconds, which one unlucky time slice on a
	// loaded machine doubles: each rep takes the median of a few.
	var showWall, showCPU, showCLI []float64
	for range showRuns {
		start, cpu := time.Now(), processCPU(b, pid)
		cliCPU, err := show()
		if err != nil {
			b.Fatalf("%s: show: %v", kind, err)
		}
		showWall = append(showWall, float64(time.Since(start).Microseconds())/1000)
		showCPU = append(showCPU, float64((processCPU(b, pid)-cpu).Microseconds())/1000)
		showCLI = append(showCLI, float64(cliCPU.Microseconds())/1000)
	}
	out["show-ms"], out["show-cpu-ms"], out["show-cli-cpu-ms"] = median(showWall), median(showCPU), median(showCLI)
	if err := writeNext(); err != nil {
		b.Fatalf("%s: writing the changed config: %v", kind, err)
	}
	start, cpu := time.Now(), processCPU(b, pid)
	if err := reload(); err != nil {
		b.Fatalf("%s: %v", kind, err)
	}
	out["reload-ms"] = float64(time.Since(start).Microseconds()) / 1000
	out["reload-cpu-ms"] = float64((processCPU(b, pid) - cpu).Microseconds()) / 1000
	if err := spoke.Ping(ctx, hubAddr); err != nil {
		b.Fatalf("%s: after the reload the spoke cannot reach the hub: %v", kind, err)
	}
	return out
}

// processCPU is the CPU time pid's threads have run, from the scheduler's
// per-thread counters (nanoseconds, unlike /proc/PID/stat's ticks).
func processCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		b.Fatalf("threads of %d: %v", pid, err)
	}
	var sum time.Duration
	for _, path := range tasks {
		text, err := os.ReadFile(path)
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(text))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			b.Fatalf("%s: %q: %v", path, text, err)
		}
		sum += time.Duration(ns)
	}
	return sum
}

// vmRSS is pid's resident set in MiB, from /proc/PID/status.
func vmRSS(pid int) (float64, error) { return statusMiB(pid, "VmRSS") }

// statusMiB reads a kB field of /proc/PID/status (VmRSS, RssAnon) in MiB.
func statusMiB(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading status of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("%s line %q: %w", field, line, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// buildUpstreamWireguardGo builds upstream wireguard-go at the version
// go.mod pins (as the benchmarks/ suite does) and returns its path.
func buildUpstreamWireguardGo(b *testing.B) string {
	b.Helper()
	ver, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "golang.zx2c4.com/wireguard").Output()
	if err != nil {
		b.Fatalf("finding the pinned wireguard-go version: %v", err)
	}
	dir := b.TempDir()
	mod := fmt.Sprintf("module wgubench/wireguardgo\n\ngo 1.24\n\nrequire golang.zx2c4.com/wireguard %s\n", strings.TrimSpace(string(ver)))
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o600); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "wireguard-go")
	cmd := exec.Command("go", "build", "-o", bin, "golang.zx2c4.com/wireguard")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Skipf("cannot build upstream wireguard-go: %v\n%s", err, out)
	}
	return bin
}

// runCPU runs args in ns, its output read and dropped, and returns the CPU time
// (user and system) the command used: `ip netns exec` execs it, so that is
// the command's own plus ip's few setns calls, alike for every kind.
func runCPU(ctx context.Context, ns *Netns, args ...string) (time.Duration, error) {
	cmd := ns.Command(ctx, args...)
	var errb strings.Builder
	// Through a pipe, as show's output goes to a script.
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}
