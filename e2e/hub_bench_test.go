package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// BenchmarkHubForwarding measures spoke -> hub -> spoke TCP throughput
// (iperf3, one stream) through a rootless netstack hub and through a root
// wgu hub on a kernel TUN, in the same run, and reports their ratio.
//
//	sudo go test -run '^$' -bench HubForwarding -benchtime 1x ./e2e
func BenchmarkHubForwarding(b *testing.B) {
	if reason := MissingPrerequisite("iperf3", "setpriv", "unshare"); reason != "" {
		skipOrFail(b, reason)
	}
	const reps, seconds = 3, 5
	measure := func(rootless bool) float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var runs []float64
		b.Run(map[bool]string{true: "netstack-hub", false: "tun-hub"}[rootless], func(b *testing.B) {
			r := newHubLab(b, ctx, rootless)
			if err := r.a.Ping(ctx, rhWGB); err != nil {
				b.Fatal(err)
			}
			srv := r.b.Start("iperf3", "-s", "-B", rhWGB.String())
			time.Sleep(300 * time.Millisecond)
			for i := 0; i < reps; i++ {
				gbps, err := iperf3(ctx, r.a, rhWGB, seconds)
				if err != nil {
					b.Fatalf("%v\n%s", err, srv.Stderr())
				}
				runs = append(runs, gbps)
			}
			b.ReportMetric(median(runs), "Gbit/s")
		})
		return median(runs)
	}
	tun := measure(false)
	netstack := measure(true)
	if tun > 0 {
		b.Logf("spoke -> hub -> spoke, median of %d x %ds: TUN hub %.2f Gbit/s, rootless netstack hub %.2f Gbit/s (%.2fx)",
			reps, seconds, tun, netstack, netstack/tun)
	}
}

// BenchmarkRootlessSpoke measures one TCP stream between a spoke and a TUN
// hub, each direction, for a rootless spoke (netstack, through a
// [TCPClientTunnel] forward) and a TUN spoke, in the same run.
//
//	sudo go test -run '^$' -bench RootlessSpoke -benchtime 1x ./e2e
func BenchmarkRootlessSpoke(b *testing.B) {
	if reason := MissingPrerequisite("iperf3", "setpriv", "unshare"); reason != "" {
		skipOrFail(b, reason)
	}
	const reps, seconds = 3, 5
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := newHubLab(b, ctx, false)
	r.hub.Start("iperf3", "-s", "-B", hubWG.String())
	time.Sleep(300 * time.Millisecond)
	results := map[string]float64{}
	for _, c := range []struct {
		name    string
		ns      *Netns
		server  string
		reverse bool
	}{
		{"tun-spoke-upload", r.b, hubWG.String(), false},
		{"rootless-spoke-upload", r.c, "127.0.0.1", false},
		{"tun-spoke-download", r.b, hubWG.String(), true},
		{"rootless-spoke-download", r.c, "127.0.0.1", true},
	} {
		var runs []float64
		for i := 0; i < reps; i++ {
			args := []string{"-c", c.server, "-t", fmt.Sprint(seconds), "-J"}
			if c.reverse {
				args = append(args, "-R")
			}
			gbps, err := iperf3Run(ctx, c.ns, args...)
			if err != nil {
				b.Fatal(err)
			}
			runs = append(runs, gbps)
		}
		results[c.name] = median(runs)
		b.ReportMetric(results[c.name], c.name+"-Gbit/s")
	}
	for _, dir := range []string{"upload", "download"} {
		tun, ns := results["tun-spoke-"+dir], results["rootless-spoke-"+dir]
		if tun > 0 {
			b.Logf("%s, median of %d x %ds: TUN spoke %.2f Gbit/s, rootless spoke via forward %.2f Gbit/s (%.2fx)", dir, reps, seconds, tun, ns, ns/tun)
		}
	}
}

// iperf3 runs one single-stream client in ns against server and returns
// the received throughput in Gbit/s.
func iperf3(ctx context.Context, ns *Netns, server netip.Addr, seconds int) (float64, error) {
	return iperf3Run(ctx, ns, "-c", server.String(), "-t", fmt.Sprint(seconds), "-J")
}

// iperf3Run runs an iperf3 client with args (which must include -J) in ns
// and returns the received throughput in Gbit/s.
func iperf3Run(ctx context.Context, ns *Netns, args ...string) (float64, error) {
	out, errOut, err := ns.Run(ctx, append([]string{"iperf3"}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("iperf3: %w\n%s%s", err, out, errOut)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return 0, fmt.Errorf("iperf3 JSON: %w", err)
	}
	return res.End.SumReceived.BitsPerSecond / 1e9, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
