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
	if reason := missingPrerequisite("iperf3", "setpriv", "unshare"); reason != "" {
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

// iperf3 runs one single-stream client in ns against server and returns
// the received throughput in Gbit/s.
func iperf3(ctx context.Context, ns *Netns, server netip.Addr, seconds int) (float64, error) {
	out, errOut, err := ns.Run(ctx, "iperf3", "-c", server.String(), "-t", fmt.Sprint(seconds), "-J")
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
