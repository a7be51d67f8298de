package services

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/wgu-project/wgu/netstackx"
)

// newTestDevice is a netstack with addrs, as the services run on in wgu.
func newTestDevice(t testing.TB, forwarding bool, addrs ...string) *netstackx.Device {
	t.Helper()
	var ps []netip.Prefix
	for _, a := range addrs {
		ps = append(ps, netip.MustParsePrefix(a))
	}
	d, err := netstackx.New(netstackx.Options{Addresses: ps, MTU: 1420, Forwarding: forwarding})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newWire connects two netstacks back to back: each packet one writes goes
// to the other, as WireGuard would carry it.
func newWire(t testing.TB, a, b *netstackx.Device) {
	var wg sync.WaitGroup
	pump := func(src, dst *netstackx.Device) {
		defer wg.Done()
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
			for i := 0; i < n; i++ {
				dst.Write([][]byte{bufs[i][:sizes[i]]}, 0)
			}
		}
	}
	wg.Add(2)
	go pump(a, b)
	go pump(b, a)
	t.Cleanup(func() {
		a.Close()
		b.Close()
		wg.Wait()
	})
}
