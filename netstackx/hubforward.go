package netstackx

import (
	"encoding/binary"
	"net/netip"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// A forwarding device (the rootless hub) sends most of what it receives
// straight back into the tunnel: a packet from one peer for another. Such a
// packet needs none of gVisor: no socket, no reassembly, no route other than
// the tunnel itself, only its TTL (hop limit) decremented. The device does
// that here, on the bytes, and queues the packet in a ring of its own that
// Read drains beside the stack's queue. What this saves per packet is the
// stack's packet buffer, its pooled chunk and views, two reference counts
// and the copy out of them, about a tenth of the hub's CPU time in a
// profile of spoke -> hub -> spoke TCP (issue 17).
//
// It began as a fix: gVisor's IPv4 forwarding reads the TTL from a header
// its own copy-on-write has already returned to the buffer pool
// (forwardPacketWithRoute reads h.TTL() after DeepCopyForForwarding released
// the chunk h points into). With several tunnels in one process (a hub and
// its spokes, as in `wgu demo` or a library program) another tunnel's packet
// can be written into that memory while it is read: a data race `go test
// -race` reports, and a wrong TTL in rare cases. Packets taken here never
// meet that code.
//
// Only the plain case is taken: unicast between addresses that are not the
// device's, no IPv4 options, no IPv6 hop-by-hop header, TTL or hop limit of
// at least 2, within the MTU. Everything else (packets for the device, TTL
// expiry, broadcast, link-local, too big) still goes to gVisor, which
// answers with the right ICMP error or drops it as a router must.

// forwardQueueLen bounds the packets forwarded and not yet read, as
// outboundQueueLen bounds the stack's; beyond it packets are dropped, as a
// full TUN queue drops them.
const forwardQueueLen = outboundQueueLen

// forwardSlotSize is the buffer a ring slot starts with: an MTU-sized packet
// of the common tunnel MTUs fits; a bigger packet gets a bigger buffer.
const forwardSlotSize = 2048

// forwardQueue is a ring of packets for Read. A slot keeps its buffer when
// read, so a busy hub allocates nothing per packet; buffers are made only
// as the ring first fills, up to the deepest the queue has been.
type forwardQueue struct {
	mu    sync.Mutex
	slots [][]byte // each slot's buffer, full length; sizes[i] bytes are the packet
	sizes []int
	head  int // the oldest packet
	n     int // packets queued
	// ready holds a token once a packet was queued since the reader last
	// took it: Read blocks on it when both queues are empty.
	ready chan struct{}
}

func newForwardQueue(capacity int) *forwardQueue {
	return &forwardQueue{
		slots: make([][]byte, capacity),
		sizes: make([]int, capacity),
		ready: make(chan struct{}, 1),
	}
}

// push copies pkt into the next free slot (the lock held) and returns the
// copy; nil when the ring is full.
func (q *forwardQueue) push(pkt []byte) []byte {
	if q.n == len(q.slots) {
		return nil
	}
	i := (q.head + q.n) % len(q.slots)
	if len(q.slots[i]) < len(pkt) {
		q.slots[i] = make([]byte, max(len(pkt), forwardSlotSize))
	}
	q.sizes[i] = len(pkt)
	q.n++
	b := q.slots[i][:len(pkt)]
	copy(b, pkt)
	return b
}

// signal wakes a reader waiting for packets.
func (q *forwardQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default: // a token is already waiting
	}
}

// pop moves queued packets into bufs[n:] (each at offset) and returns the
// new n. A packet larger than its buffer is dropped: oversize counts those,
// and size and room describe the last for the log.
func (q *forwardQueue) pop(bufs [][]byte, sizes []int, offset, n int) (_, oversize, size, room int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n > 0 && n < len(bufs) {
		sz := q.sizes[q.head]
		dst := bufs[n][offset:]
		if sz <= len(dst) {
			sizes[n] = copy(dst, q.slots[q.head][:sz])
			n++
		} else {
			oversize, size, room = oversize+1, sz, len(dst)
		}
		q.head = (q.head + 1) % len(q.slots)
		q.n--
	}
	return n, oversize, size, room
}

// batchMask marks the packets of a Write batch the hub forwarded itself.
type batchMask [4]uint64

// batchMaskLen is how many packets one batchMask covers.
const batchMaskLen = len(batchMask{}) * 64

func (m *batchMask) set(i int)      { m[i/64] |= 1 << (i % 64) }
func (m *batchMask) has(i int) bool { return m[i/64]&(1<<(i%64)) != 0 }

// forwardBatch queues every packet of bufs (at most batchMaskLen, each at
// offset) that forwardable takes, with its TTL or hop limit decremented,
// marks them in taken and returns how many it took. A packet the full ring
// has no room for is taken too, and dropped.
func (d *Device) forwardBatch(bufs [][]byte, offset int, taken *batchMask) int {
	mtu := int(d.mtu.Load())
	took, queued := 0, 0
	q := d.fwd
	q.mu.Lock()
	for i, b := range bufs {
		pkt := b[offset:]
		if !d.forwardable(pkt, mtu) {
			continue
		}
		taken.set(i)
		took++
		if out := q.push(pkt); out != nil {
			decrementTTL(out)
			queued++
		}
	}
	q.mu.Unlock()
	if queued > 0 {
		q.signal()
		d.forwarded.Add(uint64(queued))
	}
	if dropped := took - queued; dropped > 0 {
		d.ep.dropped.Add(uint64(dropped))
	}
	return took
}

// forwardable reports whether pkt is a plain packet for another peer that
// the device may forward without gVisor (see the top of this file).
func (d *Device) forwardable(pkt []byte, mtu int) bool {
	if len(pkt) == 0 || len(pkt) > mtu {
		return false
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < header.IPv4MinimumSize {
			return false
		}
		ip := header.IPv4(pkt)
		if ip.HeaderLength() != header.IPv4MinimumSize || int(ip.TotalLength()) != len(pkt) || ip.TTL() <= 1 {
			return false
		}
		return d.routableV4(pkt[12:16]) && d.routableV4(pkt[16:20])
	case 6:
		if len(pkt) < header.IPv6MinimumSize {
			return false
		}
		ip := header.IPv6(pkt)
		// A hop-by-hop header is for every router to read (and a jumbogram's
		// length is in one): gVisor's.
		if int(ip.PayloadLength())+header.IPv6MinimumSize != len(pkt) || ip.HopLimit() <= 1 ||
			ip.NextHeader() == uint8(header.IPv6HopByHopOptionsExtHdrIdentifier) {
			return false
		}
		return d.routableV6(pkt[8:24]) && d.routableV6(pkt[24:40])
	}
	return false
}

// decrementTTL lowers the TTL (hop limit) of a packet forwardable took, and
// updates the IPv4 header checksum.
func decrementTTL(pkt []byte) {
	if pkt[0]>>4 == 6 {
		pkt[7]-- // hop limit
		return
	}
	pkt[8]-- // TTL
	// The checksum is updated for the one word that changed (RFC 1624), as
	// Linux's ip_decrease_ttl does: the TTL is the high byte of its word, so
	// the word fell by 0x0100 and the checksum, its complement, rises by as
	// much, with the carry wrapped around. Summing the header again cost
	// more than the rest of the header work (2 % of the hub in a profile).
	c := uint32(binary.BigEndian.Uint16(pkt[10:12])) + 0x0100
	if c >= 0xffff {
		c++
	}
	binary.BigEndian.PutUint16(pkt[10:12], uint16(c))
}

// forwardStops are the addresses a packet the device forwards itself may
// not carry, beyond the kinds routableV4 and routableV6 refuse by their
// bits: the device's own addresses, the directed broadcast address of each
// of its IPv4 subnets, and the subnet-router anycast address (RFC 4291
// 2.6.1) of each of its IPv6 subnets, which a router answers itself. They
// are listed once, from the addresses New was given: comparing netip values
// and prefixes per packet took half of the fast path's time.
type forwardStops struct {
	v4 []uint32
	v6 [][16]byte
}

// newForwardStops lists the stops of a device with the given addresses.
func newForwardStops(addrs []netip.Prefix) forwardStops {
	var s forwardStops
	for _, p := range addrs {
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() {
			a, bits = a.Unmap(), bits-96
		}
		if a.Is4() {
			host := binary.BigEndian.Uint32(a.AsSlice())
			s.v4 = append(s.v4, host)
			if bits >= 0 && bits < 31 {
				s.v4 = append(s.v4, host|(1<<(32-bits)-1))
			}
			continue
		}
		s.v6 = append(s.v6, a.As16())
		if bits < 127 {
			s.v6 = append(s.v6, p.Masked().Addr().As16())
		}
	}
	return s
}

// routableV4 reports whether a forwarded packet may carry b (an IPv4
// address) as its source or destination without gVisor's checks: a unicast
// address (not in 0/8, loopback, link-local, multicast or the reserved
// 240/4 with the broadcast address) that is not one of the stops.
func (d *Device) routableV4(b []byte) bool {
	a := binary.BigEndian.Uint32(b)
	switch {
	case a>>24 == 0, a>>24 == 127, a>>16 == 169<<8|254, a>>28 >= 0xe:
		return false
	}
	for _, stop := range d.stops.v4 {
		if a == stop {
			return false
		}
	}
	return true
}

// routableV6 is routableV4 for IPv6: a global or unique local unicast
// address (not multicast, link-local, nor in ::/80: unspecified, loopback,
// IPv4-mapped or -compatible) that is not one of the stops.
func (d *Device) routableV6(b []byte) bool {
	switch {
	case b[0] == 0xff, b[0] == 0xfe && b[1]&0xc0 == 0x80, binary.BigEndian.Uint64(b) == 0 && b[8] == 0 && b[9] == 0:
		return false
	}
	a := [16]byte(b)
	for _, stop := range d.stops.v6 {
		if a == stop {
			return false
		}
	}
	return true
}
