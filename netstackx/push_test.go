package netstackx

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// tcpPacket builds an IPv4/TCP packet with payload bytes of data and a
// valid checksum.
func tcpPacket(payload int, flags header.TCPFlags) []byte {
	pkt := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize+payload)
	src, dst := tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), tcpip.AddrFrom4([4]byte{10, 0, 0, 2})
	header.IPv4(pkt).Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64,
		Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
	tcp := header.TCP(pkt[header.IPv4MinimumSize:])
	tcp.Encode(&header.TCPFields{SrcPort: 1, DstPort: 2, SeqNum: 7, AckNum: 9,
		DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: 1000})
	for i := range tcp.Payload() {
		tcp.Payload()[i] = byte(i)
	}
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(tcp)))
	tcp.SetChecksum(^tcp.CalculateChecksum(checksum.Checksum(tcp.Payload(), xsum)))
	return pkt
}

func tcpChecksumValid(pkt []byte) bool {
	ip := header.IPv4(pkt)
	tcp := header.TCP(pkt[header.IPv4MinimumSize:])
	payloadSum := checksum.Checksum(tcp.Payload(), 0)
	return tcp.IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress(), payloadSum, uint16(len(tcp.Payload())))
}

func TestClearInnerPush(t *testing.T) {
	const mss = 1380
	full := tcpPacket(mss, header.TCPFlagAck|header.TCPFlagPsh)
	clearInnerPush(full, mss)
	tcp := header.TCP(full[header.IPv4MinimumSize:])
	if tcp.Flags()&header.TCPFlagPsh != 0 || tcp.Flags()&header.TCPFlagAck == 0 {
		t.Errorf("full-sized segment flags = %v, want ACK without PSH", tcp.Flags())
	}
	if !tcpChecksumValid(full) {
		t.Error("checksum invalid after clearing PSH")
	}

	last := tcpPacket(mss-100, header.TCPFlagAck|header.TCPFlagPsh)
	clearInnerPush(last, mss)
	if header.TCP(last[header.IPv4MinimumSize:]).Flags()&header.TCPFlagPsh == 0 {
		t.Error("the short last segment lost its PSH")
	}
	for _, short := range [][]byte{{0x45}, make([]byte, 30), {0x60, 0, 0}} {
		clearInnerPush(short, mss) // must not panic
	}
}
