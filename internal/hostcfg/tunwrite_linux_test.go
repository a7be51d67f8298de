package hostcfg

import (
	"bytes"
	"testing"

	"golang.zx2c4.com/wireguard/tun"
)

// growingTUN plays wireguard-go's Linux TUN with GRO: a write may extend
// any of its buffers up to their capacity (coalescing a run of packets into
// the first), and it keeps what it was asked to write.
type growingTUN struct {
	tun.Device
	written [][]byte
}

func (d *growingTUN) BatchSize() int { return 128 }

func (d *growingTUN) Write(bufs [][]byte, offset int) (int, error) {
	d.written = d.written[:0]
	for i := range bufs {
		d.written = append(d.written, bytes.Clone(bufs[i][offset:]))
		full := bufs[i][:cap(bufs[i])]
		for j := range full {
			full[j] = 0xff
		}
		bufs[i] = full
	}
	return len(bufs), nil
}

// Writes reach the device unchanged, and whatever the device does in its
// buffers never reaches the caller's beyond the packets (tunwrite_linux.go).
func TestCoalesceApartLeavesCallersBuffers(t *testing.T) {
	const offset = 16
	inner := &growingTUN{}
	dev := newCoalesceApart(inner)
	for round := range 3 {
		var bufs, want [][]byte
		for i := range 5 + round {
			b := make([]byte, offset+100+i, 1<<16)
			for j := range b[offset:] {
				b[offset+j] = byte(round*10 + i)
			}
			bufs = append(bufs, b)
			want = append(want, bytes.Clone(b[offset:]))
		}
		if _, err := dev.Write(bufs, offset); err != nil {
			t.Fatal(err)
		}
		for i, b := range bufs {
			if !bytes.Equal(inner.written[i], want[i]) {
				t.Fatalf("round %d: packet %d reached the device as %x..., want %x...", round, i, inner.written[i][:4], want[i][:4])
			}
			if j := bytes.IndexByte(b[:cap(b)], 0xff); j >= 0 {
				t.Fatalf("round %d: the device wrote into the caller's buffer %d at byte %d", round, i, j)
			}
		}
	}
}

// discardTUN takes every write.
type discardTUN struct{ tun.Device }

func (discardTUN) BatchSize() int                          { return 128 }
func (discardTUN) Write(bufs [][]byte, _ int) (int, error) { return len(bufs), nil }

// The copy a write costs: a full batch of MTU-1420 packets.
func BenchmarkCoalesceApartWrite(b *testing.B) {
	dev := newCoalesceApart(discardTUN{})
	bufs := make([][]byte, 128)
	for i := range bufs {
		bufs[i] = make([]byte, 16+1420, 1<<16)
	}
	b.SetBytes(128 * 1420)
	for b.Loop() {
		if _, err := dev.Write(bufs, 16); err != nil {
			b.Fatal(err)
		}
	}
}
