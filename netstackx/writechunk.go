package netstackx

import (
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// How much a relay writes into a netstack connection at once. gVisor's TCP
// makes one segment of each write (or merges whole queued writes), up to
// the link's GSOMaxSize less header room, and splits a longer write there:
// 64 KiB writes went out as one full segment and a 161-byte one each, 32 KiB
// writes as half-full segments. Device.Read cuts every segment into
// MSS-sized packets with a short last one, and the bind sends each run of
// equal packets as one UDP GSO datagram, which the receiver reads whole
// (UDP GRO): segments of a whole number of full packets, as large as fit,
// halve the datagrams (and the receiver's reads and wake-ups) per byte
// against 32 KiB writes, as the kernel's TSO does on a TUN (issue 17).

// maxSegmentPayload is the most payload gVisor's TCP puts in one segment
// for the device (tcp's sender: GSOMaxSize - TCPTotalHeaderMaximumSize - 1).
const maxSegmentPayload = gsoMaxSize - header.TCPTotalHeaderMaximumSize - 1

// tcpTimestampLen is the room the timestamp option takes in every segment
// (10 bytes, padded to 12), which both gVisor and Linux negotiate.
const tcpTimestampLen = 12

// writeChunk is the size of the relay's writes into a connection of a
// tunnel with the given MTU: the most whole packets one segment holds. If
// the connection's real MSS differs (the peer asked for less, no
// timestamps), segments just end in a short packet, as before.
func writeChunk(mtu int, v6 bool) int {
	ipLen := header.IPv4MinimumSize
	if v6 {
		ipLen = header.IPv6MinimumSize
	}
	mss := mtu - ipLen - header.TCPMinimumSize - tcpTimestampLen
	if mss <= 0 || mss > maxSegmentPayload {
		return maxSegmentPayload
	}
	return maxSegmentPayload / mss * mss
}

// stackConn is a TCP connection on the netstack that tells a relay its
// write size.
type stackConn struct {
	*gonet.TCPConn
	chunk int
}

// WriteChunk is the size writes into the connection should take to leave
// the tunnel in full segments of whole packets (the services' relays use
// it).
func (c *stackConn) WriteChunk() int { return c.chunk }
