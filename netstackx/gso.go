package netstackx

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TCP hands the link endpoint segments of up to 64 KiB (host GSO) with the
// checksum left for the "hardware". The device cuts them into MSS-sized
// packets directly into wireguard-go's buffers, as a NIC would: one copy per
// byte, headers rebuilt per piece, and none of the per-packet work gVisor's
// own segmentation does (a packet buffer, an IP layer pass and a queue slot
// per piece). PSH and FIN stay on the last piece only, CWR on the first,
// which also lets the peer's GRO merge the pieces again.

// isGSO reports whether pkt must be cut and checksummed by the device.
func isGSO(pkt *stack.PacketBuffer) bool {
	t := pkt.GSOOptions.Type
	return t == stack.GSOTCPv4 || t == stack.GSOTCPv6
}

// gsoCursor is a GSO packet being cut, and the payload offset of the next
// piece: a batch may run out of buffers half-way through one.
type gsoCursor struct {
	pkt *stack.PacketBuffer
	off int
}

// cut writes pieces of c.pkt into bufs[n:] (each at offset) and returns the
// new n. Once the last piece is written it releases the packet (c.pkt is
// then nil); otherwise the rest waits for the next batch. dropped is the
// payload left unsent when a buffer was too small for a piece: the rest of
// the segment is released (TCP sends it again).
func (c *gsoCursor) cut(bufs [][]byte, sizes []int, offset, n int) (_ int, dropped int) {
	pkt := c.pkt
	netHdr := pkt.NetworkHeader().Slice()
	tcpHdr := pkt.TransportHeader().Slice()
	hdrLen := len(netHdr) + len(tcpHdr)
	payloadLen := pkt.Data().Size()
	mss := int(pkt.GSOOptions.MSS)
	if mss <= 0 {
		mss = max(payloadLen, 1)
	}
	views, viewOff := pkt.AsViewList()
	payloadStart := viewOff + pkt.HeaderSize()
	for n < len(bufs) {
		// A segment without data (an ACK, a SYN) is a single piece.
		seg := min(mss, payloadLen-c.off)
		dst := bufs[n][offset:]
		if len(dst) < hdrLen+seg {
			// wireguard-go's buffers hold 64 KiB, so this takes a caller
			// with smaller ones.
			dropped = payloadLen - c.off
			c.release()
			return n, dropped
		}
		copy(dst, netHdr)
		copy(dst[len(netHdr):], tcpHdr)
		copyRange(dst[hdrLen:hdrLen+seg], views, payloadStart+c.off)
		first, last := c.off == 0, c.off+seg >= payloadLen
		fixPiece(dst[:hdrLen+seg], len(netHdr), uint32(c.off), uint16(c.off/mss), first, last)
		sizes[n] = hdrLen + seg
		n++
		c.off += seg
		if last {
			c.release()
			return n, 0
		}
	}
	return n, 0
}

func (c *gsoCursor) release() {
	c.pkt.DecRef()
	c.pkt, c.off = nil, 0
}

// copyRange fills dst from the views, starting at flat offset start.
func copyRange(dst []byte, views buffer.ViewList, start int) {
	n := 0
	for v := views.Front(); v != nil && n < len(dst); v = v.Next() {
		b := v.AsSlice()
		if start >= len(b) {
			start -= len(b)
			continue
		}
		n += copy(dst[n:], b[start:])
		start = 0
	}
}

// fixPiece rewrites the IP and TCP headers of one piece: lengths, IPv4 ID,
// sequence number, flags and both checksums.
func fixPiece(p []byte, ipLen int, seqOff uint32, index uint16, first, last bool) {
	tcp := header.TCP(p[ipLen:])
	var src, dst []byte
	if p[0]>>4 == 4 {
		ip := header.IPv4(p)
		ip.SetTotalLength(uint16(len(p)))
		ip.SetID(ip.ID() + index)
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
		src, dst = p[12:16], p[16:20]
	} else {
		header.IPv6(p).SetPayloadLength(uint16(len(p) - ipLen))
		src, dst = p[8:24], p[24:40]
	}
	tcp.SetSequenceNumber(tcp.SequenceNumber() + seqOff)
	flags := tcp.Flags()
	if !last {
		flags &^= header.TCPFlagFin | header.TCPFlagPsh
	}
	if !first {
		flags &^= header.TCPFlagCwr
	}
	tcp.SetFlags(uint8(flags))
	tcp.SetChecksum(0)
	sum := pseudoHeaderSum(src, dst, uint16(len(tcp)))
	sum = checksum.Checksum(tcp, sum)
	tcp.SetChecksum(^sum)
}

// pseudoHeaderSum is the TCP pseudo-header's checksum for addresses of
// either family.
func pseudoHeaderSum(src, dst []byte, tcpLen uint16) uint16 {
	sum := checksum.Checksum(src, 0)
	sum = checksum.Checksum(dst, sum)
	var tail [4]byte
	tail[1] = uint8(header.TCPProtocolNumber)
	binary.BigEndian.PutUint16(tail[2:], tcpLen)
	return checksum.Checksum(tail[:], sum)
}
