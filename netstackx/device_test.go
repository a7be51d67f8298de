package netstackx

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wgu-project/wgu/internal/leakcheck"
)

// wire plays wireguard-go between devices: it reads each device's outbound
// packets and writes them into the device that owns the destination address,
// as AllowedIPs would route them.
type wire struct {
	devs []*Device
	wg   sync.WaitGroup
	// reorderEvery, when set, holds back one in every reorderEvery packets
	// of a batch and delivers it reorderDepth packets later (or at the end
	// of the batch): a path that reorders, as multipath links and some
	// NICs do.
	reorderEvery, reorderDepth int
	// drop, when set, decides which packets the wire loses.
	drop func(src *Device, pkt []byte) bool
}

func newWire(t testing.TB, devs ...*Device) *wire {
	return newReorderingWire(t, 0, 0, devs...)
}

func newReorderingWire(t testing.TB, every, depth int, devs ...*Device) *wire {
	w := &wire{devs: devs, reorderEvery: every, reorderDepth: depth}
	for _, d := range devs {
		w.wg.Add(1)
		go w.pump(d)
	}
	t.Cleanup(func() {
		for _, d := range devs {
			d.Close()
		}
		w.wg.Wait()
	})
	return w
}

func (w *wire) pump(src *Device) {
	defer w.wg.Done()
	bufs := make([][]byte, src.BatchSize())
	sizes := make([]int, len(bufs))
	for i := range bufs {
		bufs[i] = make([]byte, 65535)
	}
	var held []byte // a packet being delivered late, or nil
	late := 0       // packets to deliver before held
	count := 0
	for {
		n, err := src.Read(bufs, sizes, 0)
		if err != nil {
			return
		}
		for i := 0; i < n; i++ {
			pkt := bufs[i][:sizes[i]]
			count++
			if w.drop != nil && w.drop(src, pkt) {
				continue
			}
			if w.reorderEvery > 0 && held == nil && count%w.reorderEvery == 0 {
				held, late = pkt, w.reorderDepth
				continue
			}
			w.deliver(src, pkt)
			if held != nil {
				if late--; late == 0 {
					w.deliver(src, held)
					held = nil
				}
			}
		}
		if held != nil {
			w.deliver(src, held)
			held = nil
		}
	}
}

func (w *wire) deliver(src *Device, pkt []byte) {
	dst := destination(pkt)
	for _, d := range w.devs {
		if d != src && d.owns(dst) {
			d.Write([][]byte{pkt}, 0)
			return
		}
	}
}

func destination(pkt []byte) netip.Addr {
	switch pkt[0] >> 4 {
	case 4:
		a, _ := netip.AddrFromSlice(pkt[16:20])
		return a
	case 6:
		a, _ := netip.AddrFromSlice(pkt[24:40])
		return a
	}
	return netip.Addr{}
}

// owns: in this test lab a device is routed the /24 (or /64) of its first
// address, except a hub, which owns only its own addresses.
func (d *Device) owns(a netip.Addr) bool {
	for _, p := range d.addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

func newTestDevice(t testing.TB, forwarding bool, addrs ...string) *Device {
	t.Helper()
	var ps []netip.Prefix
	for _, a := range addrs {
		ps = append(ps, netip.MustParsePrefix(a))
	}
	d, err := New(Options{Addresses: ps, MTU: 1420, Forwarding: forwarding})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDeviceTCPBothWays(t *testing.T) {
	a := newTestDevice(t, false, "10.0.0.1/24", "fd00::1/64")
	b := newTestDevice(t, false, "10.0.0.2/24", "fd00::2/64")
	newWire(t, a, b)

	for _, addr := range []string{"10.0.0.2:9000", "[fd00::2]:9001"} {
		t.Run(addr, func(t *testing.T) {
			ln, err := b.Listen("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			data := make([]byte, 8<<20)
			rand.Read(data)
			want := sha256.Sum256(data)
			errc := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					errc <- err
					return
				}
				defer c.Close()
				// Echo back: the data crosses both directions.
				_, err = io.Copy(c, c)
				errc <- err
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := a.DialContext(ctx, "tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go func() {
				c.Write(data)
				c.(interface{ CloseWrite() error }).CloseWrite()
			}()
			h := sha256.New()
			if _, err := io.Copy(h, c); err != nil {
				t.Fatal(err)
			}
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Fatal("echoed data differs")
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDeviceUDPAndPing(t *testing.T) {
	a := newTestDevice(t, false, "10.0.0.1/24", "fd00::1/64")
	b := newTestDevice(t, false, "10.0.0.2/24", "fd00::2/64")
	newWire(t, a, b)

	pc, err := b.ListenPacket("udp", "10.0.0.2:5353")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(bytes.ToUpper(buf[:n]), from)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "udp", "10.0.0.2:5353")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "HELLO" {
		t.Fatalf("UDP reply %q, %v", buf[:n], err)
	}

	for i, dst := range []string{"10.0.0.2", "fd00::2", "10.0.0.1"} {
		rtt, err := a.Ping(ctx, netip.MustParseAddr(dst), uint16(i+1))
		if err != nil {
			t.Fatalf("ping %s: %v", dst, err)
		}
		t.Logf("ping %s: %v", dst, rtt)
	}
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if _, err := a.Ping(short, netip.MustParseAddr("10.0.0.99"), 9); err == nil {
		t.Fatal("ping to an address nobody has succeeded")
	}
}

func TestDeviceForwarding(t *testing.T) {
	hub := newTestDevice(t, true, "10.0.0.1/24")
	home := newTestDevice(t, false, "10.0.0.2/24")
	phone := newTestDevice(t, false, "10.0.0.3/24")
	// The spokes' packets for each other go to the hub, which must route them.
	w := &wire{devs: []*Device{hub, home, phone}}
	spoke := func(src *Device) {
		defer w.wg.Done()
		bufs, sizes := [][]byte{make([]byte, 65535)}, []int{0}
		for {
			if _, err := src.Read(bufs, sizes, 0); err != nil {
				return
			}
			hub.Write([][]byte{bufs[0][:sizes[0]]}, 0)
		}
	}
	w.wg.Add(3)
	go w.pump(hub)
	go spoke(home)
	go spoke(phone)
	t.Cleanup(func() {
		for _, d := range w.devs {
			d.Close()
		}
		w.wg.Wait()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := phone.Ping(ctx, netip.MustParseAddr("10.0.0.2"), 1); err != nil {
		t.Fatalf("phone → home through the hub: %v", err)
	}
	ln, err := home.Listen("tcp", ":8096")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("jellyfin"))
			c.Close()
		}
	}()
	c, err := phone.DialContext(ctx, "tcp", "10.0.0.2:8096")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "jellyfin" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestDeviceCloseLeavesNoGoroutines(t *testing.T) {
	before := leakcheck.Snapshot()
	func() {
		a := newTestDevice(t, false, "10.0.0.1/24")
		b := newTestDevice(t, false, "10.0.0.2/24")
		w := &wire{devs: []*Device{a, b}}
		w.wg.Add(2)
		go w.pump(a)
		go w.pump(b)
		ln, err := b.Listen("tcp", ":9000")
		if err != nil {
			t.Fatal(err)
		}
		// Each accepted connection reports once a first 64 KiB came through it.
		const conns, flowingAt = 8, 64 << 10
		flowing := make(chan struct{}, conns)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					if n, _ := io.CopyN(io.Discard, c, flowingAt); n == flowingAt {
						flowing <- struct{}{}
					}
					io.Copy(io.Discard, c)
				}()
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var writers sync.WaitGroup
		for i := 0; i < conns; i++ {
			c, err := a.DialContext(ctx, "tcp", "10.0.0.2:9000")
			if err != nil {
				t.Fatal(err)
			}
			writers.Add(1)
			go func() {
				defer writers.Done()
				buf := make([]byte, 32<<10)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
		for i := 0; i < conns && ctx.Err() == nil; i++ {
			select {
			case <-flowing:
			case <-ctx.Done():
				t.Errorf("traffic flows on %d of %d connections", i, conns)
			}
		}
		// Close while traffic flows.
		a.Close()
		b.Close()
		w.wg.Wait()
		writers.Wait()
	}()
	leakcheck.Verify(t, before)
}

func TestNewRejectsBadMTU(t *testing.T) {
	if _, err := New(Options{MTU: 100}); err == nil {
		t.Fatal("MTU 100 accepted")
	}
}
