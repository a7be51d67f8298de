package netstackx

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip/header"
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
