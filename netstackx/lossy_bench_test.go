package netstackx

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// newLossyWire joins a and c over a path that loses each packet with
// probability loss and delivers the others after delay, one way: the
// in-process lab of BenchmarkDeviceTCPLossy.
func newLossyWire(t testing.TB, loss float64, delay time.Duration, a, c *Device) {
	type timed struct {
		due time.Time
		pkt []byte
	}
	var wg sync.WaitGroup
	for _, pair := range [][2]*Device{{a, c}, {c, a}} {
		src, dst := pair[0], pair[1]
		line := make(chan timed, 1<<16)
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer close(line)
			bufs := make([][]byte, src.BatchSize())
			sizes := make([]int, len(bufs))
			for i := range bufs {
				bufs[i] = make([]byte, 65535)
			}
			for {
				n, err := src.Read(bufs, sizes, 0)
				if err != nil {
					return
				}
				due := time.Now().Add(delay)
				for i := 0; i < n; i++ {
					if rand.Float64() >= loss {
						line <- timed{due, append([]byte(nil), bufs[i][:sizes[i]]...)}
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			for p := range line {
				time.Sleep(time.Until(p.due))
				dst.Write([][]byte{p.pkt}, 0)
			}
		}()
	}
	t.Cleanup(func() {
		a.Close()
		c.Close()
		wg.Wait()
	})
}

// BenchmarkDeviceTCPLossy is one stream between two Devices over a path with
// a 0.5 ms round trip and 1 % or 5 % random loss each way, with and without
// the tail probe (tailprobe.go). It reports the sender's retransmission
// timeouts and tail probes per run: without the probe most lost ACKs cost a
// timeout.
//
//	go test -run '^$' -bench DeviceTCPLossy -benchtime 5s -count 3 ./netstackx
func BenchmarkDeviceTCPLossy(b *testing.B) {
	for _, loss := range []float64{0.01, 0.05} {
		for _, probe := range []bool{true, false} {
			name := fmt.Sprintf("loss%g%%/%s", loss*100, map[bool]string{true: "probe", false: "no-probe"}[probe])
			b.Run(name, func(b *testing.B) {
				a := newTestDevice(b, false, "10.0.0.1/24")
				c := newTestDevice(b, false, "10.0.0.2/24")
				if !probe {
					a.rack.stop()
					c.rack.stop()
				}
				newLossyWire(b, loss, 250*time.Microsecond, a, c)
				benchmarkStream(b, a, c)
				got := a.Counters()
				b.ReportMetric(float64(got["tcp_timeouts"]), "timeouts")
				b.ReportMetric(float64(got["tcp_tail_probes"]), "probes")
				b.ReportMetric(float64(got["tcp_rack_repairs"]), "repairs")
			})
		}
	}
}
