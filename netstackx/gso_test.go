package netstackx

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// gsoPacket builds what TCP hands the link endpoint with host GSO: one big
// segment, headers in place, checksum not done.
func gsoPacket(v6 bool, payload []byte, mss uint16, flags header.TCPFlags) *stack.PacketBuffer {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{ReserveHeaderBytes: 80, Payload: buffer.MakeWithData(payload)})
	tcp := header.TCP(pkt.TransportHeader().Push(header.TCPMinimumSize))
	tcp.Encode(&header.TCPFields{SrcPort: 40000, DstPort: 5201, SeqNum: 1000, AckNum: 7,
		DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: 512, Checksum: 0xdead})
	gso := stack.GSO{NeedsCsum: true, CsumOffset: header.TCPChecksumOffset, MSS: mss}
	if v6 {
		ip := header.IPv6(pkt.NetworkHeader().Push(header.IPv6MinimumSize))
		ip.Encode(&header.IPv6Fields{PayloadLength: uint16(pkt.Size() - header.IPv6MinimumSize), TransportProtocol: header.TCPProtocolNumber,
			HopLimit: 64, SrcAddr: tcpip.AddrFrom16([16]byte{0xfd, 15: 1}), DstAddr: tcpip.AddrFrom16([16]byte{0xfd, 15: 2})})
		gso.Type, gso.L3HdrLen = stack.GSOTCPv6, header.IPv6MinimumSize
	} else {
		ip := header.IPv4(pkt.NetworkHeader().Push(header.IPv4MinimumSize))
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(pkt.Size()), ID: 100, TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
			SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2})})
		gso.Type, gso.L3HdrLen = stack.GSOTCPv4, header.IPv4MinimumSize
	}
	pkt.GSOOptions = gso
	return pkt
}

// checkPiece verifies one piece's headers and returns its TCP header.
func checkPiece(t *testing.T, p []byte) header.TCP {
	t.Helper()
	var tcp header.TCP
	var src, dst tcpip.Address
	if p[0]>>4 == 4 {
		ip := header.IPv4(p)
		if !ip.IsValid(len(p)) || !ip.IsChecksumValid() || int(ip.TotalLength()) != len(p) {
			t.Fatalf("bad IPv4 header %x", p[:20])
		}
		tcp, src, dst = header.TCP(p[20:]), ip.SourceAddress(), ip.DestinationAddress()
	} else {
		ip := header.IPv6(p)
		if int(ip.PayloadLength())+header.IPv6MinimumSize != len(p) {
			t.Fatalf("IPv6 payload length %d for %d bytes", ip.PayloadLength(), len(p))
		}
		tcp, src, dst = header.TCP(p[40:]), ip.SourceAddress(), ip.DestinationAddress()
	}
	sum := checksum.Checksum(tcp.Payload(), 0)
	if !tcp.IsChecksumValid(src, dst, sum, uint16(len(tcp.Payload()))) {
		t.Fatalf("bad TCP checksum in piece seq %d", tcp.SequenceNumber())
	}
	return tcp
}

func TestGSOCut(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		payload := make([]byte, 4500)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		pkt := gsoPacket(v6, payload, 1000, header.TCPFlagAck|header.TCPFlagPsh|header.TCPFlagFin|header.TCPFlagCwr)
		c := gsoCursor{pkt: pkt}
		bufs := make([][]byte, 3)
		for i := range bufs {
			bufs[i] = make([]byte, 2000)
		}
		sizes := make([]int, 3)
		// Two batches: three pieces, then the last two (after one slot in use).
		var pieces [][]byte
		n, _ := c.cut(bufs, sizes, 0, 0)
		if n != 3 || c.pkt == nil {
			t.Fatalf("first batch: n=%d, pending=%v", n, c.pkt != nil)
		}
		for i := 0; i < n; i++ {
			pieces = append(pieces, bytes.Clone(bufs[i][:sizes[i]]))
		}
		n, _ = c.cut(bufs, sizes, 0, 1)
		if n != 3 || c.pkt != nil {
			t.Fatalf("second batch: n=%d, pending=%v", n, c.pkt != nil)
		}
		for i := 1; i < n; i++ {
			pieces = append(pieces, bytes.Clone(bufs[i][:sizes[i]]))
		}
		var got []byte
		for i, p := range pieces {
			tcp := checkPiece(t, p)
			if want := uint32(1000 + 1000*i); tcp.SequenceNumber() != want {
				t.Errorf("v6=%v piece %d: seq %d, want %d", v6, i, tcp.SequenceNumber(), want)
			}
			last, first := i == len(pieces)-1, i == 0
			f := tcp.Flags()
			if (f&header.TCPFlagPsh != 0) != last || (f&header.TCPFlagFin != 0) != last || (f&header.TCPFlagCwr != 0) != first || f&header.TCPFlagAck == 0 {
				t.Errorf("v6=%v piece %d: flags %v", v6, i, f)
			}
			if !v6 && header.IPv4(p).ID() != uint16(100+i) {
				t.Errorf("piece %d: IPv4 ID %d", i, header.IPv4(p).ID())
			}
			got = append(got, tcp.Payload()...)
		}
		if len(pieces) != 5 || !bytes.Equal(got, payload) {
			t.Errorf("v6=%v: %d pieces, payload intact: %v", v6, len(pieces), bytes.Equal(got, payload))
		}
	}
}

func TestGSOCutBareSegment(t *testing.T) {
	pkt := gsoPacket(false, nil, 1000, header.TCPFlagAck)
	c := gsoCursor{pkt: pkt}
	bufs, sizes := [][]byte{make([]byte, 100)}, []int{0}
	if n, _ := c.cut(bufs, sizes, 0, 0); n != 1 || c.pkt != nil || sizes[0] != 40 {
		t.Fatalf("n=%d size=%d pending=%v", n, sizes[0], c.pkt != nil)
	}
	checkPiece(t, bufs[0][:sizes[0]])
}

// A buffer too small for the next piece ends the segment: the pieces that fit
// are kept, the rest is reported as dropped (not silently lost) and the
// packet released.
func TestGSOCutReportsWhatDoesNotFit(t *testing.T) {
	pkt := gsoPacket(false, make([]byte, 3000), 1000, header.TCPFlagAck)
	c := gsoCursor{pkt: pkt}
	bufs := [][]byte{make([]byte, 2000), make([]byte, 500), make([]byte, 2000)}
	sizes := make([]int, 3)
	n, dropped := c.cut(bufs, sizes, 0, 0)
	if n != 1 || dropped != 2000 || c.pkt != nil {
		t.Fatalf("n=%d dropped=%d pending=%v, want 1 piece, 2000 bytes dropped, packet released", n, dropped, c.pkt != nil)
	}
}
