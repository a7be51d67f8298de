package udpbind

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr: a msghdr and the byte count the kernel fills
// in. Go pads it to the C layout on every architecture (the msghdr's
// alignment rounds the size up).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// Sizes of the control messages wgu reads and writes.
var (
	pktinfo4Space = unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	pktinfo6Space = unix.CmsgSpace(unix.SizeofInet6Pktinfo)
	segmentSpace  = unix.CmsgSpace(2) // UDP_SEGMENT carries a uint16
	groSpace      = unix.CmsgSpace(4) // UDP_GRO delivers an int

	// oobSize fits a sticky source plus a segment size, either way; the
	// buffers hold oobPerMsg bytes (a test checks that it is enough).
	oobSize = max(pktinfo4Space, pktinfo6Space) + max(segmentSpace, groSpace)
)

const oobPerMsg = 64

// Limits of one UDP GSO send: the kernel's segment count, the payload that
// fits one IP packet before segmentation, and maxGSOPayload below both.
//
// maxGSOPayload: a GSO datagram within a few hundred bytes of the 64 KiB
// IP limit reaches the receiving socket cut into single datagrams, even
// one with UDP_GRO on, and the receiver then reads and decrypts them one
// recvmmsg slot at a time (measured between two namespaces on a veth,
// Linux 6.18: 45 x 1452 bytes = 65340 arrived as 45 datagrams, 49 x 1332 =
// 65268 and 44 x 1452 = 63888 arrived whole; netstack upload through a
// forward fell to 0.6x when its segments were cut into 47 packets, issue
// 17). The kernel's own TCP keeps its TSO segments a few hundred bytes
// short of 64 KiB too. One packet fewer per send at MTU 1420 costs
// nothing measurable.
const (
	maxSegments       = 64
	maxIPv4UDPPayload = 1<<16 - 1 - 20 - 8
	maxIPv6UDPPayload = 1<<16 - 1 - 8
	maxGSOPayload     = 63 << 10
)

// recvmmsg reads up to len(msgs) datagrams without blocking.
func recvmmsg(fd uintptr, msgs []mmsghdr) (int, unix.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd,
		uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

// sendmmsg writes up to len(msgs) datagrams without blocking.
func sendmmsg(fd uintptr, msgs []mmsghdr) (int, unix.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd,
		uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

// sockaddrPort reads a sockaddr_in or sockaddr_in6 the kernel filled in.
func sockaddrPort(sa *unix.RawSockaddrInet6) (ap netip.AddrPort, scope uint32, ok bool) {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), portFromNet(sa4.Port)), 0, true
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), portFromNet(sa.Port)), sa.Scope_id, true
	}
	return netip.AddrPort{}, 0, false
}

// fillSockaddr writes dst as the sockaddr of a socket of the given family and
// returns its length.
func fillSockaddr(sa *unix.RawSockaddrInet6, dst netip.AddrPort, scope uint32, is6 bool) uint32 {
	if !is6 {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: portToNet(dst.Port()), Addr: dst.Addr().As4()}
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: portToNet(dst.Port()), Addr: dst.Addr().As16(), Scope_id: scope}
	return unix.SizeofSockaddrInet6
}

// The sockaddr's port field holds network byte order in host memory.
func portFromNet(p uint16) uint16 {
	var b [2]byte
	*(*uint16)(unsafe.Pointer(&b[0])) = p
	return binary.BigEndian.Uint16(b[:])
}

func portToNet(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

// parseControl reads the sticky source (IP_PKTINFO / IPV6_PKTINFO) and the
// GRO segment size (UDP_GRO) of a received datagram.
func parseControl(oob []byte) (local netip.Addr, ifindex int32, gso int) {
	for len(oob) >= unix.SizeofCmsghdr {
		hdr, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return
		}
		oob = rest
		switch {
		case hdr.Level == unix.IPPROTO_IP && hdr.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			info := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			local, ifindex = netip.AddrFrom4(info.Spec_dst), info.Ifindex
		case hdr.Level == unix.IPPROTO_IPV6 && hdr.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			info := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			local, ifindex = netip.AddrFrom16(info.Addr), int32(info.Ifindex)
		case hdr.Level == unix.SOL_UDP && hdr.Type == unix.UDP_GRO && len(data) >= 2:
			if len(data) >= 4 {
				gso = int(*(*int32)(unsafe.Pointer(&data[0])))
			} else {
				gso = int(*(*uint16)(unsafe.Pointer(&data[0])))
			}
		}
	}
	return
}

// appendPktinfo appends the control message that sends from src via ifindex.
func appendPktinfo(oob []byte, src netip.Addr, ifindex int32, is6 bool) []byte {
	if !is6 {
		info := unix.Inet4Pktinfo{Ifindex: ifindex, Spec_dst: src.As4()}
		return appendCmsg(oob, unix.IPPROTO_IP, unix.IP_PKTINFO,
			unsafe.Slice((*byte)(unsafe.Pointer(&info)), unix.SizeofInet4Pktinfo))
	}
	info := unix.Inet6Pktinfo{Addr: src.As16(), Ifindex: uint32(ifindex)}
	return appendCmsg(oob, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO,
		unsafe.Slice((*byte)(unsafe.Pointer(&info)), unix.SizeofInet6Pktinfo))
}

// appendSegment appends UDP_SEGMENT: the kernel cuts the datagram into
// pieces of size bytes.
func appendSegment(oob []byte, size uint16) []byte {
	return appendCmsg(oob, unix.SOL_UDP, unix.UDP_SEGMENT, unsafe.Slice((*byte)(unsafe.Pointer(&size)), 2))
}

// appendCmsg appends one control message within oob's capacity (callers
// size it with oobSize).
func appendCmsg(oob []byte, level, typ int32, data []byte) []byte {
	start := len(oob)
	space := unix.CmsgSpace(len(data))
	if cap(oob)-start < space {
		return oob
	}
	oob = oob[:start+space]
	clear(oob[start:])
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[start]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(oob[start+unix.CmsgLen(0):], data)
	return oob
}
