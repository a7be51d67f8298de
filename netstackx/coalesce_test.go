package netstackx

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// capture is a NetworkDispatcher that keeps the bytes of what it is given.
type capture struct{ pkts [][]byte }

func (c *capture) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	c.pkts = append(c.pkts, pkt.ToView().AsSlice())
}
func (c *capture) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {}

// tcpPkt builds an IPv4 or IPv6 TCP packet; opts are TCP options (a
// multiple of 4 bytes).
type tcpPkt struct {
	v6         bool
	srcPort    uint16
	seq, ack   uint32
	flags      header.TCPFlags
	window     uint16
	ttl        uint8
	opts       []byte
	payloadLen int
}

func (p tcpPkt) bytes() []byte {
	ipLen := header.IPv4MinimumSize
	if p.v6 {
		ipLen = header.IPv6MinimumSize
	}
	tcpLen := header.TCPMinimumSize + len(p.opts)
	b := make([]byte, ipLen+tcpLen+p.payloadLen)
	for i := range p.payloadLen {
		b[ipLen+tcpLen+i] = byte(p.seq + uint32(i)) // payload byte = its sequence number
	}
	ttl := p.ttl
	if ttl == 0 {
		ttl = 64
	}
	if p.v6 {
		header.IPv6(b).Encode(&header.IPv6Fields{PayloadLength: uint16(tcpLen + p.payloadLen), TransportProtocol: header.TCPProtocolNumber,
			HopLimit: ttl, SrcAddr: tcpip.AddrFrom16([16]byte{0xfd, 15: 2}), DstAddr: tcpip.AddrFrom16([16]byte{0xfd, 15: 1})})
	} else {
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: ttl, Protocol: uint8(header.TCPProtocolNumber),
			Flags:   header.IPv4FlagDontFragment,
			SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1})})
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	srcPort := p.srcPort
	if srcPort == 0 {
		srcPort = 5201
	}
	flags := p.flags
	if flags == 0 {
		flags = header.TCPFlagAck
	}
	window := p.window
	if window == 0 {
		window = 1000
	}
	t := header.TCP(b[ipLen:])
	t.Encode(&header.TCPFields{SrcPort: srcPort, DstPort: 40000, SeqNum: p.seq, AckNum: p.ack,
		DataOffset: uint8(tcpLen), Flags: flags, WindowSize: window})
	copy(t[header.TCPMinimumSize:], p.opts)
	return b
}

// coalesce runs one batch through a coalescer and returns what the stack got.
func coalesce(t *testing.T, pkts ...[]byte) [][]byte {
	t.Helper()
	var c coalescer
	got := &capture{}
	c.to = got
	for _, p := range pkts {
		proto := header.IPv4ProtocolNumber
		if p[0]>>4 == 6 {
			proto = header.IPv6ProtocolNumber
		}
		c.add(p, proto)
	}
	c.flush()
	if c.n != 0 {
		t.Fatalf("%d flows left after flush", c.n)
	}
	return got.pkts
}

// checkSegment checks that b is a valid TCP packet carrying the bytes of
// sequence numbers [seq, seq+n) and returns its TCP header.
func checkSegment(t *testing.T, b []byte, seq uint32, n int) header.TCP {
	t.Helper()
	ipLen := header.IPv4MinimumSize
	if b[0]>>4 == 6 {
		ipLen = header.IPv6MinimumSize
		if got := int(header.IPv6(b).PayloadLength()) + ipLen; got != len(b) {
			t.Fatalf("IPv6 payload length says %d bytes, packet has %d", got, len(b))
		}
	} else {
		ip := header.IPv4(b)
		if int(ip.TotalLength()) != len(b) || !ip.IsChecksumValid() {
			t.Fatalf("IPv4 total length %d (packet %d), checksum valid %v", ip.TotalLength(), len(b), ip.IsChecksumValid())
		}
	}
	tcp := header.TCP(b[ipLen:])
	payload := b[ipLen+int(tcp.DataOffset()):]
	if tcp.SequenceNumber() != seq || len(payload) != n {
		t.Fatalf("segment seq %d with %d bytes, want seq %d with %d", tcp.SequenceNumber(), len(payload), seq, n)
	}
	for i, c := range payload {
		if c != byte(seq+uint32(i)) {
			t.Fatalf("payload byte %d is %d, want %d", i, c, byte(seq+uint32(i)))
		}
	}
	return tcp
}

func TestCoalesceJoinsAFlight(t *testing.T) {
	ts := []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2} // NOP NOP timestamp
	for _, v6 := range []bool{false, true} {
		const mss = 1000
		var pkts [][]byte
		for i := range 5 {
			p := tcpPkt{v6: v6, seq: uint32(100 + i*mss), ack: 7, opts: ts, payloadLen: mss, window: uint16(1000 + i)}
			if i == 4 {
				p.payloadLen, p.flags = 300, header.TCPFlagAck|header.TCPFlagPsh
			}
			pkts = append(pkts, p.bytes())
		}
		got := coalesce(t, pkts...)
		if len(got) != 1 {
			t.Fatalf("v6=%v: %d packets delivered, want 1 joined segment", v6, len(got))
		}
		tcp := checkSegment(t, got[0], 100, 4*mss+300)
		if tcp.Flags() != header.TCPFlagAck|header.TCPFlagPsh || tcp.AckNumber() != 7 || tcp.WindowSize() != 1004 {
			t.Errorf("v6=%v: flags %v, ack %d, window %d; want ACK|PSH, 7, the last packet's 1004", v6, tcp.Flags(), tcp.AckNumber(), tcp.WindowSize())
		}
		if !bytes.Equal(tcp.Options(), ts) {
			t.Errorf("v6=%v: options %x, want %x", v6, tcp.Options(), ts)
		}
	}
}

func TestCoalesceKeepsApartWhatDoesNotContinue(t *testing.T) {
	const mss = 1000
	base := tcpPkt{seq: 100, ack: 7, payloadLen: mss}
	next := func(mod func(*tcpPkt)) tcpPkt {
		p := base
		p.seq += mss
		mod(&p)
		return p
	}
	for _, tc := range []struct {
		name string
		pkts []tcpPkt
		want int
	}{
		{"a gap", []tcpPkt{base, next(func(p *tcpPkt) { p.seq += mss })}, 2},
		{"a resent packet", []tcpPkt{base, base}, 2},
		{"another ACK number", []tcpPkt{base, next(func(p *tcpPkt) { p.ack++ })}, 2},
		{"other options", []tcpPkt{base, next(func(p *tcpPkt) { p.opts = []byte{1, 1, 1, 1} })}, 2},
		{"another TTL", []tcpPkt{base, next(func(p *tcpPkt) { p.ttl = 9 })}, 2},
		{"a longer packet", []tcpPkt{base, next(func(p *tcpPkt) { p.payloadLen = mss + 1 })}, 2},
		{"a FIN", []tcpPkt{base, next(func(p *tcpPkt) { p.flags = header.TCPFlagAck | header.TCPFlagFin })}, 2},
		{"a pure ACK", []tcpPkt{base, next(func(p *tcpPkt) { p.payloadLen = 0 })}, 2},
		{"after a short packet", []tcpPkt{base, next(func(p *tcpPkt) { p.payloadLen = 10 }), {seq: 100 + mss + 10, ack: 7, payloadLen: mss}}, 2},
		{"after a PSH", []tcpPkt{base, next(func(p *tcpPkt) { p.flags = header.TCPFlagAck | header.TCPFlagPsh }), {seq: 100 + 2*mss, ack: 7, payloadLen: mss}}, 2},
		{"another flow", []tcpPkt{base, next(func(p *tcpPkt) { p.srcPort = 5202 })}, 2},
		{"another IP version", []tcpPkt{base, next(func(p *tcpPkt) { p.v6 = true })}, 2},
		{"a continuation", []tcpPkt{base, next(func(*tcpPkt) {})}, 1},
	} {
		var pkts [][]byte
		for _, p := range tc.pkts {
			pkts = append(pkts, p.bytes())
		}
		got := coalesce(t, pkts...)
		if len(got) != tc.want {
			t.Errorf("%s: %d packets delivered, want %d", tc.name, len(got), tc.want)
			continue
		}
		if tc.want == len(pkts) {
			for i := range got {
				if !bytes.Equal(got[i], pkts[i]) {
					t.Errorf("%s: packet %d changed on its way:\n got %x\nwant %x", tc.name, i, got[i], pkts[i])
				}
			}
		}
	}
}

// Two flows interleaved in a batch are each joined, and a joined segment
// stops below 64 KiB: the rest starts the next one.
func TestCoalesceFlowsAndLimit(t *testing.T) {
	const mss = 1400
	var pkts [][]byte
	for i := range 60 {
		for _, port := range []uint16{5201, 5202} {
			pkts = append(pkts, tcpPkt{srcPort: port, seq: uint32(i * mss), payloadLen: mss}.bytes())
		}
	}
	got := coalesce(t, pkts...)
	perSeg := (maxCoalescedLen - 40) / mss // packets in a full segment
	var bytesOf [2]int
	for _, b := range got {
		if len(b) > maxCoalescedLen {
			t.Fatalf("a %d-byte segment", len(b))
		}
		tcp := header.TCP(b[20:])
		port := tcp.SourcePort() - 5201
		checkSegment(t, b, uint32(bytesOf[port]), len(b)-40)
		bytesOf[port] += len(b) - 40
	}
	if bytesOf != [2]int{60 * mss, 60 * mss} {
		t.Fatalf("delivered %v bytes per flow, want %d each", bytesOf, 60*mss)
	}
	if want := 2 * ((60 + perSeg - 1) / perSeg); len(got) != want {
		t.Errorf("%d segments, want %d", len(got), want)
	}
}

// A packet that is not TCP, or is malformed, reaches the stack unchanged and
// after what its flow had pending.
func TestCoalescePassesOtherPacketsInOrder(t *testing.T) {
	a := tcpPkt{seq: 100, payloadLen: 500}.bytes()
	b := tcpPkt{seq: 600, payloadLen: 500}.bytes()
	fin := tcpPkt{seq: 1100, flags: header.TCPFlagAck | header.TCPFlagFin}.bytes()
	udp := append([]byte(nil), a...)
	udp[9] = uint8(header.UDPProtocolNumber)
	short := a[:30]
	got := coalesce(t, a, b, udp, fin, short)
	if len(got) != 4 {
		t.Fatalf("%d packets delivered, want 4", len(got))
	}
	if !bytes.Equal(got[0], udp) {
		t.Errorf("first packet delivered is not the UDP one")
	}
	checkSegment(t, got[1], 100, 1000)
	if !bytes.Equal(got[2], fin) || !bytes.Equal(got[3], short) {
		t.Errorf("the FIN and the short packet were not delivered unchanged after the segment")
	}
}
