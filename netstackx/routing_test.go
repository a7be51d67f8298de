package netstackx

import (
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// udpPacket builds an IPv4 UDP packet (no UDP checksum, which IPv4 allows).
func udpPacket(src, dst string, ttl uint8, payload []byte) []byte {
	pkt := make([]byte, header.IPv4MinimumSize+header.UDPMinimumSize+len(payload))
	ip := header.IPv4(pkt)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(pkt)),
		TTL:         ttl,
		Protocol:    uint8(header.UDPProtocolNumber),
		SrcAddr:     tcpip.AddrFrom4(netip.MustParseAddr(src).As4()),
		DstAddr:     tcpip.AddrFrom4(netip.MustParseAddr(dst).As4()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	udp := header.UDP(pkt[header.IPv4MinimumSize:])
	udp.Encode(&header.UDPFields{SrcPort: 5000, DstPort: 6000, Length: uint16(header.UDPMinimumSize + len(payload))})
	copy(udp.Payload(), payload)
	return pkt
}

// readOne reads the next packet the device sends into the tunnel.
func readOne(t *testing.T, d *Device) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		bufs, sizes := [][]byte{make([]byte, 65535)}, []int{0}
		if n, err := d.Read(bufs, sizes, 0); err == nil && n == 1 {
			got <- bufs[0][:sizes[0]]
		}
	}()
	select {
	case pkt := <-got:
		return pkt
	case <-time.After(5 * time.Second):
		t.Fatal("the device sent nothing within 5 s")
		return nil
	}
}

// TestDeviceRoutesLikeARouter: a forwarding device (the rootless hub) sends a
// packet for another peer back into the tunnel with its TTL decremented, and
// answers a packet whose TTL runs out with ICMP time exceeded, as a kernel
// with ip_forward = 1 does (traceroute through the hub works).
func TestDeviceRoutesLikeARouter(t *testing.T) {
	hub := newTestDevice(t, true, "10.0.0.1/24", "fd00::1/64")
	t.Cleanup(func() { hub.Close() })

	if _, err := hub.Write([][]byte{udpPacket("10.0.0.3", "10.0.0.2", 5, []byte("to the home lab"))}, 0); err != nil {
		t.Fatal(err)
	}
	ip := header.IPv4(readOne(t, hub))
	if ip.DestinationAddress().String() != "10.0.0.2" || ip.TTL() != 4 || !ip.IsChecksumValid() {
		t.Fatalf("forwarded packet: dst %s ttl %d checksum valid %v; want dst 10.0.0.2, ttl 4, valid",
			ip.DestinationAddress(), ip.TTL(), ip.IsChecksumValid())
	}
	if string(header.UDP(ip.Payload()).Payload()) != "to the home lab" {
		t.Fatalf("forwarded payload changed: %q", header.UDP(ip.Payload()).Payload())
	}

	if _, err := hub.Write([][]byte{udpPacket("10.0.0.3", "10.0.0.2", 1, []byte("expiring"))}, 0); err != nil {
		t.Fatal(err)
	}
	ip = header.IPv4(readOne(t, hub))
	if ip.TransportProtocol() != header.ICMPv4ProtocolNumber {
		t.Fatalf("after TTL 1: got protocol %d, want ICMP", ip.TransportProtocol())
	}
	icmp := header.ICMPv4(ip.Payload())
	if ip.SourceAddress().String() != "10.0.0.1" || ip.DestinationAddress().String() != "10.0.0.3" ||
		icmp.Type() != header.ICMPv4TimeExceeded {
		t.Fatalf("after TTL 1: got ICMP type %d from %s to %s; want time exceeded (11) from 10.0.0.1 to 10.0.0.3",
			icmp.Type(), ip.SourceAddress(), ip.DestinationAddress())
	}

	// IPv6: hop limit 1 gets ICMPv6 time exceeded too.
	pkt6 := make([]byte, header.IPv6MinimumSize+header.UDPMinimumSize)
	header.IPv6(pkt6).Encode(&header.IPv6Fields{
		PayloadLength:     header.UDPMinimumSize,
		TransportProtocol: header.UDPProtocolNumber,
		HopLimit:          1,
		SrcAddr:           tcpip.AddrFrom16(netip.MustParseAddr("fd00::3").As16()),
		DstAddr:           tcpip.AddrFrom16(netip.MustParseAddr("fd00::2").As16()),
	})
	header.UDP(pkt6[header.IPv6MinimumSize:]).Encode(&header.UDPFields{SrcPort: 5000, DstPort: 6000, Length: header.UDPMinimumSize})
	if _, err := hub.Write([][]byte{pkt6}, 0); err != nil {
		t.Fatal(err)
	}
	ip6 := header.IPv6(readOne(t, hub))
	if ip6.TransportProtocol() != header.ICMPv6ProtocolNumber || header.ICMPv6(ip6.Payload()).Type() != header.ICMPv6TimeExceeded ||
		ip6.DestinationAddress().String() != "fd00::3" {
		t.Fatalf("after hop limit 1: got protocol %d to %s; want ICMPv6 time exceeded to fd00::3",
			ip6.TransportProtocol(), ip6.DestinationAddress())
	}
}
