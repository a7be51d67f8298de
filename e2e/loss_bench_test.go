package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkLossyUnderlay is issue 18's table: one checksummed stream each way between a spoke and the TUN hub at
// 0, 1 and 5 % random underlay loss, for the TUN spoke (kernel TCP on cubic, the reference; also on the VM's default
// congestion control and on reno, lossReferences) and the rootless spoke
// through a forward and through SOCKS5, all in the same run; medians of WGU_BENCH_REPS (default 3) streams of
// WGU_BENCH_MB (default 32) MB. Then the hub restarts (wgu down + up, kill -9 + up) under a forward stream each
// way, and the time from the new handshake until the stream is back at half its earlier speed.
//
//	sudo go test -run '^$' -bench LossyUnderlay -benchtime 1x -timeout 30m ./e2e
func BenchmarkLossyUnderlay(b *testing.B) {
	reps, mb := 3, 32
	if v, err := strconv.Atoi(os.Getenv("WGU_BENCH_REPS")); err == nil && v > 0 {
		reps = v
	}
	if v, err := strconv.Atoi(os.Getenv("WGU_BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	r := newLossLab(b, ctx)
	var table strings.Builder
	fmt.Fprintf(&table, "median MB/s of %d x %d MB (ratio to the TUN spoke, same direction and loss)\n", reps, mb)
	fmt.Fprintf(&table, "%-16s %-5s %22s %22s %22s\n", "path", "dir", "0 % loss", "1 % loss", "5 % loss")
	results := map[string]float64{}
	paths := append(append([]lossPath(nil), lossPaths...), lossReferences...)
	for _, pct := range []int{0, 1, 5} {
		r.setLoss(b, pct)
		for _, p := range paths {
			for _, up := range []bool{true, false} {
				var runs []float64
				for i := 0; i < reps; i++ {
					res, err := r.stream(b, ctx, p, up, int64(mb)<<20)
					if err != nil {
						b.Fatalf("%d %% loss, %s: %v", pct, p.name, err)
					}
					runs = append(runs, res.mbps())
				}
				results[fmt.Sprint(pct, p.name, up)] = median(runs)
			}
		}
	}
	for _, p := range paths {
		for _, up := range []bool{true, false} {
			fmt.Fprintf(&table, "%-16s %-5s", p.name, map[bool]string{true: "up", false: "down"}[up])
			for _, pct := range []int{0, 1, 5} {
				v, ref := results[fmt.Sprint(pct, p.name, up)], results[fmt.Sprint(pct, "tun", up)]
				fmt.Fprintf(&table, " %13.2f (%4.2fx)", v, v/ref)
			}
			table.WriteString("\n")
		}
	}
	r.setLoss(b, 0)
	table.WriteString("hub restart (3 s down), forward stream: time from the new handshake to half speed again\n")
	for _, how := range hubRestarts {
		for _, up := range []bool{false, true} {
			d, err := r.measureHubRestart(b, ctx, how, lossPaths[1], up, 3*time.Second, time.Minute)
			dir := map[bool]string{true: "upload", false: "download"}[up]
			if err != nil {
				fmt.Fprintf(&table, "%-9s %-8s %v\n", how.name, dir, err)
				continue
			}
			fmt.Fprintf(&table, "%-9s %-8s %v\n", how.name, dir, d.Round(10*time.Millisecond))
		}
	}
	// Printed, not logged: the testing package cuts a benchmark's log to a few lines.
	fmt.Print(table.String())
}
