package netstackx

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// expireLastHop makes gVisor's IPv4 forwarding drop a packet the way Linux
// does. A router may not forward a packet whose TTL would reach zero: Linux
// answers TTL <= 1 with ICMP time exceeded (so traceroute sees the hub), but
// gVisor only refuses TTL 0 and would pass a TTL 1 packet on with TTL 0.
// Lowering such a packet's TTL to 0 before gVisor sees it gives the kernel's
// answer; the only trace is the TTL quoted inside the ICMP error. IPv6 needs
// nothing: gVisor already refuses hop limit <= 1.
func (d *Device) expireLastHop(pkt []byte) {
	if len(pkt) < header.IPv4MinimumSize || pkt[0]>>4 != 4 {
		return
	}
	ip := header.IPv4(pkt)
	if ip.TTL() != 1 || int(ip.HeaderLength()) < header.IPv4MinimumSize || int(ip.HeaderLength()) > len(pkt) {
		return
	}
	dst, _ := netip.AddrFromSlice(pkt[16:20])
	for _, p := range d.addrs {
		if p.Addr().Unmap() == dst {
			return // delivered here, not forwarded
		}
	}
	ip.SetTTL(0)
	ip.SetChecksum(0)
	ip.SetChecksum(^ip.CalculateChecksum())
}

// forwardDirect sends an IPv4 packet for another peer straight back into the tunnel, with its TTL decremented, and
// reports whether it did. It exists to keep such packets away from gVisor's IPv4 forwarding, which reads the TTL
// from a header its own copy-on-write has already returned to the buffer pool (forwardPacketWithRoute reads h.TTL()
// after DeepCopyForForwarding released the chunk h points into). With several tunnels in one process (a hub and
// its spokes, as in `wgu demo` or a library program) another tunnel's packet can be written into that memory while
// it is read: a data race `go test -race` reports, and a wrong TTL in rare cases. IPv6 forwarding reads the hop
// limit before copying and is not affected.
//
// Only the plain case is taken here: unicast between addresses that are not ours, no IP options, TTL of at least
// 2, within the MTU. Everything else (packets for us, TTL expiry, broadcast, link-local, too big) still goes to
// gVisor, which answers with the right ICMP error or drops it as a router must.
func (d *Device) forwardDirect(pkt []byte) bool {
	if len(pkt) < header.IPv4MinimumSize || pkt[0]>>4 != 4 || len(pkt) > int(d.mtu.Load()) {
		return false
	}
	ip := header.IPv4(pkt)
	if ip.HeaderLength() != header.IPv4MinimumSize || int(ip.TotalLength()) != len(pkt) || ip.TTL() <= 1 {
		return false
	}
	src, dst := netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
	if !d.routableV4(src) || !d.routableV4(dst) {
		return false
	}
	ip.SetTTL(ip.TTL() - 1)
	ip.SetChecksum(0)
	ip.SetChecksum(^ip.CalculateChecksum())
	out := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(pkt)})
	out.NetworkProtocolNumber = header.IPv4ProtocolNumber
	if d.ep.enqueue(out) == nil {
		d.forwarded.Add(1)
	}
	out.DecRef()
	return true
}

// routableV4 reports whether a forwarded packet may carry addr as its source or destination without gVisor's
// checks: a unicast address that is not this device's, nor the broadcast address of one of its subnets.
func (d *Device) routableV4(addr netip.Addr) bool {
	if !addr.IsGlobalUnicast() || addr.IsLinkLocalUnicast() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	for _, p := range d.addrs {
		if !p.Addr().Unmap().Is4() {
			continue
		}
		if p.Addr().Unmap() == addr || p.Bits() < 31 && p.Contains(addr) && isLastInPrefix(p.Masked(), addr) {
			return false
		}
	}
	return true
}

// isLastInPrefix reports whether addr is the highest address of p (its directed broadcast address).
func isLastInPrefix(p netip.Prefix, addr netip.Addr) bool {
	a := addr.As4()
	host := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	mask := uint32(1)<<(32-p.Bits()) - 1
	return host&mask == mask
}
