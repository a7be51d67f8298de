package hostcfg

import (
	"sync"

	"golang.zx2c4.com/wireguard/tun"
)

// coalesceApart is a kernel TUN whose writes coalesce (GRO) in buffers of
// its own instead of wireguard-go's.
//
// wireguard-go gives every packet a 64 KiB buffer from a pool, and a TUN
// write with GRO grows the first packet of each run of a TCP flow in place
// until it holds the whole run, up to 64 KiB. Which buffer leads a run is
// chance, so over a transfer every pooled buffer is written through once,
// and the pool, as large as the most packets ever queued at once, stays
// resident in full for packets of 1.4 KB: the TUN side of the benchmark's
// wgu-netstack-1 row peaked at 620-940 MiB, the wgu-tun row at 320-390.
// Copied into a fixed set of buffers first, a pooled buffer keeps resident
// only the page or so its own packet touched (both rows: about 60 MiB). The
// copy is one memmove per packet, small beside the decryption before it.
type coalesceApart struct {
	tun.Device

	mu   sync.Mutex // wireguard-go writes from one goroutine per peer
	own  [][]byte   // the fixed buffers, as large as the largest write seen
	view [][]byte   // own, cut to the packets of the current write
}

// newCoalesceApart wraps dev if it coalesces: wireguard-go's TUN takes
// batches only when the kernel gave it offloads, and only then coalesces.
func newCoalesceApart(dev tun.Device) tun.Device {
	if dev.BatchSize() <= 1 {
		return dev
	}
	return &coalesceApart{Device: dev}
}

func (d *coalesceApart) Write(bufs [][]byte, offset int) (int, error) {
	if len(bufs) < 2 {
		// Nothing to coalesce with: the buffer is written as is.
		return d.Device.Write(bufs, offset)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.own) < len(bufs) {
		d.own = append(d.own, nil)
	}
	d.view = d.view[:0]
	for i, b := range bufs {
		// Coalescing needs the room the caller's buffer had.
		if cap(d.own[i]) < cap(b) {
			d.own[i] = make([]byte, 0, cap(b))
		}
		d.view = append(d.view, append(d.own[i][:0], b...))
	}
	return d.Device.Write(d.view, offset)
}
