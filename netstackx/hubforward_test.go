package netstackx

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// udpPacket6 builds an IPv6 UDP packet (the UDP checksum left zero: the hub
// does not look at it).
func udpPacket6(src, dst string, hopLimit uint8, payload []byte) []byte {
	pkt := make([]byte, header.IPv6MinimumSize+header.UDPMinimumSize+len(payload))
	header.IPv6(pkt).Encode(&header.IPv6Fields{
		PayloadLength:     uint16(header.UDPMinimumSize + len(payload)),
		TransportProtocol: header.UDPProtocolNumber,
		HopLimit:          hopLimit,
		SrcAddr:           tcpip.AddrFrom16(netip.MustParseAddr(src).As16()),
		DstAddr:           tcpip.AddrFrom16(netip.MustParseAddr(dst).As16()),
	})
	udp := header.UDP(pkt[header.IPv6MinimumSize:])
	udp.Encode(&header.UDPFields{SrcPort: 5000, DstPort: 6000, Length: uint16(header.UDPMinimumSize + len(payload))})
	copy(udp.Payload(), payload)
	return pkt
}

// TestDecrementTTLChecksum: the incremental checksum update gives the same
// bytes as summing the header again, for every TTL and many headers.
func TestDecrementTTLChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		pkt := udpPacket("10.0.0.3", "10.0.0.2", uint8(2+i%254), nil)
		ip := header.IPv4(pkt)
		binary.BigEndian.PutUint16(pkt[4:6], uint16(r.Uint32())) // ID
		binary.BigEndian.PutUint32(pkt[12:16], r.Uint32())       // source
		binary.BigEndian.PutUint32(pkt[16:20], r.Uint32())       // destination
		pkt[1] = uint8(r.Uint32())                               // DSCP/ECN
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())

		want := bytes.Clone(pkt)
		wip := header.IPv4(want)
		wip.SetTTL(wip.TTL() - 1)
		wip.SetChecksum(0)
		wip.SetChecksum(^wip.CalculateChecksum())

		decrementTTL(pkt)
		if !bytes.Equal(pkt[:header.IPv4MinimumSize], want[:header.IPv4MinimumSize]) {
			t.Fatalf("header %x after decrementTTL, want %x", pkt[:header.IPv4MinimumSize], want[:header.IPv4MinimumSize])
		}
	}
}

// TestHubForwardable: which packets the hub forwards itself and which it
// leaves to gVisor.
func TestHubForwardable(t *testing.T) {
	hub := newTestDevice(t, true, "10.0.0.1/24", "fd00::1/64")
	t.Cleanup(func() { hub.Close() })
	withOptions := udpPacket("10.0.0.3", "10.0.0.2", 64, make([]byte, 8))
	withOptions[0] = 0x46 // a 24-byte header: 4 bytes of options (the payload's first 4, zero: end of options)
	header.IPv4(withOptions).SetChecksum(0)
	header.IPv4(withOptions).SetChecksum(^header.IPv4(withOptions).CalculateChecksum())
	hopByHop := udpPacket6("fd00::3", "fd00::2", 64, make([]byte, 8))
	hopByHop[6] = uint8(header.IPv6HopByHopOptionsExtHdrIdentifier)
	short := udpPacket("10.0.0.3", "10.0.0.2", 64, make([]byte, 8))
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"v4 to another peer", udpPacket("10.0.0.3", "10.0.0.2", 64, nil), true},
		{"v4 to another network", udpPacket("10.0.0.3", "192.168.1.7", 2, nil), true},
		{"v6 to another peer", udpPacket6("fd00::3", "fd00::2", 64, nil), true},
		{"v6 to another network", udpPacket6("fd00::3", "2001:db8::7", 2, nil), true},
		{"v4 TTL 1", udpPacket("10.0.0.3", "10.0.0.2", 1, nil), false},
		{"v4 TTL 0", udpPacket("10.0.0.3", "10.0.0.2", 0, nil), false},
		{"v6 hop limit 1", udpPacket6("fd00::3", "fd00::2", 1, nil), false},
		{"v4 to the hub", udpPacket("10.0.0.3", "10.0.0.1", 64, nil), false},
		{"v4 from the hub", udpPacket("10.0.0.1", "10.0.0.2", 64, nil), false},
		{"v6 to the hub", udpPacket6("fd00::3", "fd00::1", 64, nil), false},
		{"v4 subnet broadcast", udpPacket("10.0.0.3", "10.0.0.255", 64, nil), false},
		{"v4 broadcast", udpPacket("10.0.0.3", "255.255.255.255", 64, nil), false},
		{"v4 multicast", udpPacket("10.0.0.3", "224.0.0.251", 64, nil), false},
		{"v4 link-local", udpPacket("169.254.0.3", "10.0.0.2", 64, nil), false},
		{"v4 loopback", udpPacket("10.0.0.3", "127.0.0.1", 64, nil), false},
		{"v4 options", withOptions, false},
		{"v4 length mismatch", short[:len(short)-4], false},
		{"v4 too big", udpPacket("10.0.0.3", "10.0.0.2", 64, make([]byte, 1500)), false},
		{"v6 too big", udpPacket6("fd00::3", "fd00::2", 64, make([]byte, 1500)), false},
		{"v6 hop-by-hop", hopByHop, false},
		{"v6 link-local source", udpPacket6("fe80::3", "fd00::2", 64, nil), false},
		{"v6 multicast", udpPacket6("fd00::3", "ff02::1", 64, nil), false},
		{"v6 subnet-router anycast", udpPacket6("fd00::3", "fd00::", 64, nil), false},
		{"v6 v4-mapped", udpPacket6("fd00::3", "::ffff:10.0.0.2", 64, nil), false},
		{"truncated v4", udpPacket("10.0.0.3", "10.0.0.2", 64, nil)[:12], false},
		{"truncated v6", udpPacket6("fd00::3", "fd00::2", 64, nil)[:30], false},
		{"not IP", []byte{0x50, 1, 2, 3}, false},
		{"empty", nil, false},
	} {
		if got := hub.forwardable(tc.pkt, 1420); got != tc.want {
			t.Errorf("%s: forwardable %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestHubFastPath: a batch mixing packets the hub forwards itself with ones
// gVisor must answer comes out whole: the forwarded packets with TTL (hop
// limit) decremented and a valid checksum, the others answered by gVisor
// with ICMP errors, and the forwarded packets' buffers unchanged.
func TestHubFastPath(t *testing.T) {
	hub := newTestDevice(t, true, "10.0.0.1/24", "fd00::1/64")
	t.Cleanup(func() { hub.Close() })
	batch := [][]byte{
		udpPacket("10.0.0.3", "10.0.0.2", 64, []byte("v4")),
		udpPacket("10.0.0.3", "10.0.0.2", 1, []byte("expiring")),
		udpPacket6("fd00::3", "fd00::2", 9, []byte("v6")),
		udpPacket("10.0.0.3", "10.0.0.2", 64, make([]byte, 1500)), // too big, DF set below: gVisor answers
	}
	header.IPv4(batch[3]).SetFlagsFragmentOffset(header.IPv4FlagDontFragment, 0)
	header.IPv4(batch[3]).SetChecksum(0)
	header.IPv4(batch[3]).SetChecksum(^header.IPv4(batch[3]).CalculateChecksum())
	orig := make([][]byte, len(batch))
	for i, b := range batch {
		orig[i] = bytes.Clone(b)
	}
	if n, err := hub.Write(batch, 0); err != nil || n != len(batch) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	for _, i := range []int{0, 2} { // the forwarded ones (expireLastHop rewrites a TTL 1 packet for gVisor)
		if !bytes.Equal(batch[i], orig[i]) {
			t.Errorf("Write changed the caller's packet %d", i)
		}
	}
	if got := hub.forwarded.Load(); got != 2 {
		t.Errorf("%d packets forwarded by the device, want 2", got)
	}
	var v4, v6, timeExceeded, fragNeeded int
	for range 4 {
		pkt := readOne(t, hub)
		switch pkt[0] >> 4 {
		case 4:
			ip := header.IPv4(pkt)
			if !ip.IsChecksumValid() {
				t.Errorf("IPv4 packet with a bad header checksum: %x", pkt[:20])
			}
			switch {
			case ip.TransportProtocol() == header.UDPProtocolNumber:
				if ip.TTL() != 63 || string(header.UDP(ip.Payload()).Payload()) != "v4" {
					t.Errorf("forwarded v4: ttl %d payload %q", ip.TTL(), header.UDP(ip.Payload()).Payload())
				}
				v4++
			case header.ICMPv4(ip.Payload()).Type() == header.ICMPv4TimeExceeded:
				timeExceeded++
			case header.ICMPv4(ip.Payload()).Type() == header.ICMPv4DstUnreachable &&
				header.ICMPv4(ip.Payload()).Code() == header.ICMPv4FragmentationNeeded:
				if mtu := header.ICMPv4(ip.Payload()).MTU(); mtu != 1420 {
					t.Errorf("fragmentation needed with MTU %d, want 1420", mtu)
				}
				fragNeeded++
			default:
				t.Errorf("unexpected IPv4 packet: %x", pkt)
			}
		case 6:
			ip := header.IPv6(pkt)
			if ip.HopLimit() != 8 || string(header.UDP(ip.Payload()).Payload()) != "v6" {
				t.Errorf("forwarded v6: hop limit %d payload %q", ip.HopLimit(), header.UDP(ip.Payload()).Payload())
			}
			v6++
		}
	}
	if v4 != 1 || v6 != 1 || timeExceeded != 1 || fragNeeded != 1 {
		t.Fatalf("got %d v4, %d v6, %d time exceeded, %d fragmentation needed; want one each", v4, v6, timeExceeded, fragNeeded)
	}
}

// TestHubFastPathOffWithoutForwarding: a device that does not forward
// neither forwards a packet for another peer nor sends anything back.
func TestHubFastPathOffWithoutForwarding(t *testing.T) {
	d := newTestDevice(t, false, "10.0.0.1/24", "fd00::1/64")
	t.Cleanup(func() { d.Close() })
	if _, err := d.Write([][]byte{
		udpPacket("10.0.0.3", "10.0.0.2", 64, []byte("v4")),
		udpPacket6("fd00::3", "fd00::2", 64, []byte("v6")),
	}, 0); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
		n, _ := d.Read(bufs, sizes, 0)
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("a non-forwarding device sent %d packets", n)
	case <-time.After(200 * time.Millisecond):
	}
	if n := d.forwarded.Load(); n != 0 {
		t.Fatalf("a non-forwarding device forwarded %d packets", n)
	}
}

// TestHubForwardQueueFull: the hub's own queue holds forwardQueueLen
// packets; beyond that packets are dropped and counted, as a full TUN
// queue drops them, and the queued ones come out in order.
func TestHubForwardQueueFull(t *testing.T) {
	hub := newTestDevice(t, true, "10.0.0.1/24")
	t.Cleanup(func() { hub.Close() })
	const extra = 10
	bufs := make([][]byte, 128)
	for sent := 0; sent < forwardQueueLen+extra; sent += len(bufs) {
		for i := range bufs {
			p := make([]byte, 4)
			binary.BigEndian.PutUint32(p, uint32(sent+i))
			bufs[i] = udpPacket("10.0.0.3", "10.0.0.2", 64, p)
		}
		if rest := forwardQueueLen + extra - sent; rest < len(bufs) {
			bufs = bufs[:rest]
		}
		if _, err := hub.Write(bufs, 0); err != nil {
			t.Fatal(err)
		}
	}
	if d := hub.Dropped(); d != extra {
		t.Fatalf("%d packets dropped, want %d", d, extra)
	}
	rbufs, sizes := make([][]byte, 100), make([]int, 100)
	for i := range rbufs {
		rbufs[i] = make([]byte, 2048)
	}
	next := 0
	for next < forwardQueueLen {
		n, err := hub.Read(rbufs, sizes, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			seq := binary.BigEndian.Uint32(header.UDP(header.IPv4(rbufs[i][:sizes[i]]).Payload()).Payload())
			if int(seq) != next {
				t.Fatalf("packet %d came out as number %d", seq, next)
			}
			next++
		}
	}
}

// TestHubForwardOversize: a forwarded packet larger than the reader's
// buffer is dropped and counted, and the next one still comes through.
func TestHubForwardOversize(t *testing.T) {
	hub := newTestDevice(t, true, "10.0.0.1/24")
	t.Cleanup(func() { hub.Close() })
	if _, err := hub.Write([][]byte{
		udpPacket("10.0.0.3", "10.0.0.2", 64, make([]byte, 600)),
		udpPacket("10.0.0.3", "10.0.0.2", 64, []byte("small")),
	}, 0); err != nil {
		t.Fatal(err)
	}
	bufs, sizes := [][]byte{make([]byte, 100)}, []int{0}
	n, err := hub.Read(bufs, sizes, 0)
	if err != nil || n != 1 {
		t.Fatalf("Read: %d, %v", n, err)
	}
	if got := header.UDP(header.IPv4(bufs[0][:sizes[0]]).Payload()).Payload(); string(got) != "small" {
		t.Fatalf("read %q, want the small packet", got)
	}
	if hub.oversize.Load() != 1 {
		t.Fatalf("oversize drops %d, want 1", hub.oversize.Load())
	}
}

// BenchmarkHubForward measures the hub's forwarding path alone: batches of
// 128 full-size packets from one peer for another written into a
// forwarding Device and read back out, as wireguard-go's receive and TUN
// read routines do. Bytes/s counts forwarded packets; allocs/op are per
// packet.
func BenchmarkHubForward(b *testing.B) {
	const batch, payload = 128, 1420 - header.IPv4MinimumSize - header.UDPMinimumSize
	for _, tc := range []struct {
		name string
		pkt  []byte
	}{
		{"v4", udpPacket("10.0.0.3", "10.0.0.2", 64, make([]byte, payload))},
		{"v6", udpPacket6("fd00::3", "fd00::2", 64, make([]byte, payload-20))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hub := newTestDevice(b, true, "10.0.0.1/24", "fd00::1/64")
			b.Cleanup(func() { hub.Close() })
			in, out, sizes := make([][]byte, batch), make([][]byte, batch), make([]int, batch)
			for i := range in {
				in[i] = make([]byte, len(tc.pkt))
				out[i] = make([]byte, 2048)
			}
			b.SetBytes(int64(len(tc.pkt)))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := min(batch, b.N-done)
				for i := range k {
					copy(in[i], tc.pkt) // a device may have changed the last batch's headers
				}
				if _, err := hub.Write(in[:k], 0); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < k; {
					n, err := hub.Read(out, sizes, 0)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
				done += k
			}
		})
	}
}
