package netstackx

import (
	"bytes"
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Receive coalescing: the TCP packets of one Write batch that continue each
// other (same flow, next sequence number, same ACK and options, full-sized
// but for the last) are joined into one segment of up to 64 KiB before the
// stack sees them, as a NIC's GRO does before the kernel's TCP. gVisor's own
// GRO (stack/gro) does the same job but costs more than the TCP it saves
// on a download: it builds a packet buffer per packet, each in a 2 KiB chunk
// of its own that is zeroed and filled, then clones and merges those views,
// and the reader later walks one view per packet. Here the payloads are
// copied once, straight from wireguard-go's buffers into one chunk per
// segment. Measured on a download through a forward (netstack side
// receiving, perf): gVisor's GRO and the per-packet buffers took about a
// sixth of the netstack process's CPU; with this (and the relays' bulk
// buffer, services/network.go) the benchmark's wgu-netstack-1 row went, in
// one session at the same load (3 x 10 s, medians), from 1.70 up / 1.68
// down to 2.05 / 2.34 Gbit/s, against wgu TUN x0.83 / x0.81 -> x0.88 /
// x1.16, CPU 8.0 -> 6.0 s/GB (issue 17). The in-process BenchmarkDeviceTCP
// (netstack to netstack, no WireGuard) came out 8-15 % slower in the same
// session; its profile shows the chunk pool's sync.Pool.Get at 3.2 % of CPU
// (0.6 % before), likely the 64 KiB chunks being freed by the reader on
// another P.

// maxCoalesceFlows is how many flows a batch coalesces at once; a packet of
// a further flow sends the oldest one's segment on.
const maxCoalesceFlows = 8

// maxCoalescedLen bounds a joined packet (IP header included): IPv4's total
// length field, and the size of gVisor's largest pooled chunk.
const maxCoalescedLen = 1<<16 - 1

// tcpFlow is the TCP segment being built for one flow of a batch.
type tcpFlow struct {
	v6 bool
	// src, dst and ports identify the flow (addresses as in the header).
	src, dst [16]byte
	ports    uint32
	// first is the first packet (its headers are the segment's); hdrLen is
	// the length of its IP and TCP headers.
	first  []byte
	hdrLen int
	// rest are the payloads of the packets joined after first.
	rest [][]byte
	// size is the joined packet's length so far; mss the first packet's
	// payload length, which every joined packet but the last must have.
	size, mss int
	nextSeq   uint32
	// ack and ipMeta are the first packet's (see tcpPacket), which every
	// joined packet must share.
	ack    uint32
	ipMeta uint64
	// window is the last joined packet's advertised window.
	window uint16
	// closed: the flow took a short or PSH packet and takes no more; psh:
	// that packet had PSH, which the segment then carries.
	closed, psh bool
}

// coalescer joins the TCP packets of a batch (see the comment above). The
// packets it holds are slices of the batch's buffers: flush must run before
// the batch returns.
type coalescer struct {
	flows [maxCoalesceFlows]tcpFlow
	n     int
	// to is the stack's dispatcher, set for each batch.
	to stack.NetworkDispatcher
}

// tcpPacket is what add needs of a packet's headers.
type tcpPacket struct {
	v6         bool
	src, dst   [16]byte
	ports      uint32
	hdrLen     int // IP + TCP headers
	ipHdrLen   int
	seq, ack   uint32
	flags      header.TCPFlags
	window     uint16
	payloadLen int
	// ipMeta holds the IP fields every packet of a segment must share
	// (IPv4: TOS, TTL, DF; IPv6: traffic class, flow label, hop limit).
	ipMeta uint64
}

// parseJoinable reports whether packet is a TCP packet that may be coalesced (no
// IP options or extension headers, not a fragment, lengths consistent) and
// its fields.
func parseJoinable(packet []byte) (tcpPacket, bool) {
	var p tcpPacket
	switch packet[0] >> 4 {
	case 4:
		if len(packet) < header.IPv4MinimumSize {
			return p, false
		}
		h := header.IPv4(packet)
		if h.HeaderLength() != header.IPv4MinimumSize || int(h.TotalLength()) != len(packet) ||
			h.Protocol() != uint8(header.TCPProtocolNumber) || h.More() || h.FragmentOffset() != 0 {
			return p, false
		}
		copy(p.src[:], packet[12:16])
		copy(p.dst[:], packet[16:20])
		tos, _ := h.TOS()
		p.ipMeta = uint64(tos)<<16 | uint64(h.TTL())<<8 | uint64(h.Flags())
		p.ipHdrLen = header.IPv4MinimumSize
	case 6:
		if len(packet) < header.IPv6MinimumSize {
			return p, false
		}
		h := header.IPv6(packet)
		if h.NextHeader() != uint8(header.TCPProtocolNumber) || int(h.PayloadLength())+header.IPv6MinimumSize != len(packet) {
			return p, false
		}
		p.v6 = true
		copy(p.src[:], packet[8:24])
		copy(p.dst[:], packet[24:40])
		// Version, traffic class and flow label, then the hop limit.
		p.ipMeta = uint64(binary.BigEndian.Uint32(packet[0:4]))<<8 | uint64(h.HopLimit())
		p.ipHdrLen = header.IPv6MinimumSize
	default:
		return p, false
	}
	if len(packet) < p.ipHdrLen+header.TCPMinimumSize {
		return p, false
	}
	t := header.TCP(packet[p.ipHdrLen:])
	off := int(t.DataOffset())
	if off < header.TCPMinimumSize || p.ipHdrLen+off > len(packet) {
		return p, false
	}
	p.ports = uint32(t.SourcePort())<<16 | uint32(t.DestinationPort())
	p.hdrLen = p.ipHdrLen + off
	p.seq = t.SequenceNumber()
	p.ack = t.AckNumber()
	p.flags = t.Flags()
	p.window = t.WindowSize()
	p.payloadLen = len(packet) - p.hdrLen
	return p, true
}

// joinable: only plain data segments are joined, optionally with PSH (which
// then ends the segment).
func (p *tcpPacket) joinable() bool {
	return p.payloadLen > 0 && p.flags&^header.TCPFlagPsh == header.TCPFlagAck
}

// add takes one packet of the batch: it is joined to its flow's segment,
// starts one, or (for a packet that cannot be joined) is delivered after
// what its flow has pending.
func (c *coalescer) add(packet []byte, proto tcpip.NetworkProtocolNumber) {
	p, ok := parseJoinable(packet)
	if !ok {
		c.deliverRaw(packet, proto)
		return
	}
	i := c.find(&p)
	if i >= 0 {
		f := &c.flows[i]
		if p.joinable() && f.accepts(packet, &p) {
			f.rest = append(f.rest, packet[p.hdrLen:])
			f.size += p.payloadLen
			f.nextSeq += uint32(p.payloadLen)
			f.window = p.window
			f.psh = p.flags&header.TCPFlagPsh != 0
			f.closed = p.payloadLen < f.mss || f.psh
			return
		}
		c.flushAt(i)
	}
	if !p.joinable() || p.flags&header.TCPFlagPsh != 0 {
		c.deliverRaw(packet, proto)
		return
	}
	if c.n == len(c.flows) {
		c.flushAt(0)
	}
	c.flows[c.n] = tcpFlow{
		v6: p.v6, src: p.src, dst: p.dst, ports: p.ports,
		first: packet, hdrLen: p.hdrLen, rest: c.flows[c.n].rest[:0],
		size: len(packet), mss: p.payloadLen, nextSeq: p.seq + uint32(p.payloadLen),
		ack: p.ack, ipMeta: p.ipMeta, window: p.window,
	}
	c.n++
}

// find returns the index of p's flow, or -1.
func (c *coalescer) find(p *tcpPacket) int {
	for i := 0; i < c.n; i++ {
		f := &c.flows[i]
		if f.ports == p.ports && f.v6 == p.v6 && f.src == p.src && f.dst == p.dst {
			return i
		}
	}
	return -1
}

// accepts reports whether packet (parsed as p) continues f's segment: the
// next bytes, the same ACK, IP fields and TCP options, no larger than the
// first packet, and room left.
func (f *tcpFlow) accepts(packet []byte, p *tcpPacket) bool {
	if f.closed || p.seq != f.nextSeq || p.hdrLen != f.hdrLen || p.payloadLen > f.mss ||
		f.size+p.payloadLen > maxCoalescedLen {
		return false
	}
	if f.ack != p.ack || f.ipMeta != p.ipMeta {
		return false
	}
	// The options (timestamps, SACK blocks) must be the same bytes.
	optStart := p.ipHdrLen + header.TCPMinimumSize
	return bytes.Equal(f.first[optStart:f.hdrLen], packet[optStart:p.hdrLen])
}

// flush delivers every pending segment, oldest first.
func (c *coalescer) flush() {
	for i := 0; i < c.n; i++ {
		c.deliverFlow(&c.flows[i])
	}
	c.n = 0
}

// flushAt delivers flow i's segment and removes it from the table.
func (c *coalescer) flushAt(i int) {
	c.deliverFlow(&c.flows[i])
	f := c.flows[i]
	copy(c.flows[i:c.n], c.flows[i+1:c.n])
	c.n--
	// Keep the removed flow's rest slice for reuse.
	c.flows[c.n] = tcpFlow{rest: f.rest[:0]}
}

// deliverFlow hands f's segment to the stack: one packet of the joined
// length with the headers of the first, the window of the last and PSH if
// the last had it. The headers go in a view of their own: gVisor's IP layer
// holds a clone of the header's view while it reads the header again, and
// reading from a view whose chunk is shared copies the whole chunk first
// (buffer.PullUp), which for a joined segment is 64 KiB per segment.
func (c *coalescer) deliverFlow(f *tcpFlow) {
	proto := header.IPv4ProtocolNumber
	ipHdrLen := header.IPv4MinimumSize
	if f.v6 {
		proto = header.IPv6ProtocolNumber
		ipHdrLen = header.IPv6MinimumSize
	}
	payload := buffer.NewViewSize(f.size - f.hdrLen)
	b := payload.AsSlice()
	n := copy(b, f.first[f.hdrLen:])
	for i, r := range f.rest {
		n += copy(b[n:], r)
		f.rest[i] = nil
	}
	hdr := buffer.NewViewWithData(f.first[:f.hdrLen])
	h := hdr.AsSlice()
	f.first = nil
	if f.v6 {
		header.IPv6(h).SetPayloadLength(uint16(f.size - ipHdrLen))
	} else {
		ip := header.IPv4(h)
		ip.SetTotalLength(uint16(f.size))
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	t := header.TCP(h[ipHdrLen:])
	t.SetWindowSize(f.window)
	if f.psh {
		t.SetFlags(uint8(t.Flags() | header.TCPFlagPsh))
	}
	buf := buffer.MakeWithView(payload)
	buf.Prepend(hdr) // the payload view has no headroom: hdr goes in front as a view of its own
	c.deliverPacket(proto, buf)
}

// deliverRaw hands one packet, copied, to the stack.
func (c *coalescer) deliverRaw(packet []byte, proto tcpip.NetworkProtocolNumber) {
	c.deliverPacket(proto, buffer.MakeWithData(packet))
}

func (c *coalescer) deliverPacket(proto tcpip.NetworkProtocolNumber, payload buffer.Buffer) {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: payload})
	pkt.NetworkProtocolNumber = proto
	pkt.RXChecksumValidated = true // see linkEndpoint.Capabilities
	c.to.DeliverNetworkPacket(proto, pkt)
	pkt.DecRef()
}
