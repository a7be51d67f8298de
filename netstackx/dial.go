package netstackx

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
)

// DialContext connects to address ("IP:port", no host names: resolve them
// first, e.g. with a Resolver on this Device) over "tcp", "tcp4", "tcp6",
// "udp", "udp4" or "udp6".
func (d *Device) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	kind, err := splitNetwork(network)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("address %q: expected IP:port: %w", address, err)}
	}
	fa, proto := fullAddress(ap)
	switch kind {
	case "tcp":
		return d.dialTCP(ctx, fa, proto)
	default:
		return gonet.DialUDP(d.stack, nil, &fa, proto)
	}
}

// Listen accepts TCP connections on address: "IP:port" for one of the
// device's addresses, or ":port" for all of them (IPv4 when the device has
// an IPv4 address, else IPv6).
func (d *Device) Listen(network, address string) (net.Listener, error) {
	kind, err := splitNetwork(network)
	if err != nil || kind != "tcp" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: fmt.Errorf("expected tcp, tcp4 or tcp6")}
	}
	fa, proto, err := d.localAddress(address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return d.listenTCP(fa, proto)
}

// ListenPacket opens a UDP socket on address, as Listen chooses it.
func (d *Device) ListenPacket(network, address string) (net.PacketConn, error) {
	kind, err := splitNetwork(network)
	if err != nil || kind != "udp" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: fmt.Errorf("expected udp, udp4 or udp6")}
	}
	fa, proto, err := d.localAddress(address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return gonet.DialUDP(d.stack, &fa, nil, proto)
}

func splitNetwork(network string) (string, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return "tcp", nil
	case "udp", "udp4", "udp6":
		return "udp", nil
	}
	return "", fmt.Errorf("network %q: expected tcp or udp", network)
}

// localAddress parses a listen address; an empty host means any address of
// the device's first family.
func (d *Device) localAddress(address string) (tcpip.FullAddress, tcpip.NetworkProtocolNumber, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return tcpip.FullAddress{}, 0, fmt.Errorf("address %q: expected IP:port or :port: %w", address, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return tcpip.FullAddress{}, 0, fmt.Errorf("address %q: port: expected 0-65535", address)
	}
	if host == "" {
		if d.hasV4 || !d.hasV6 {
			return tcpip.FullAddress{NIC: nicID, Port: uint16(port)}, ipv4.ProtocolNumber, nil
		}
		return tcpip.FullAddress{NIC: nicID, Port: uint16(port)}, ipv6.ProtocolNumber, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return tcpip.FullAddress{}, 0, fmt.Errorf("address %q: expected an IP address: %w", address, err)
	}
	fa, proto := fullAddress(netip.AddrPortFrom(ip, uint16(port)))
	return fa, proto, nil
}

// fullAddress converts to gVisor's address form; v4-mapped v6 becomes v4.
func fullAddress(ap netip.AddrPort) (tcpip.FullAddress, tcpip.NetworkProtocolNumber) {
	ip := ap.Addr().Unmap()
	proto := tcpip.NetworkProtocolNumber(ipv4.ProtocolNumber)
	if ip.Is6() {
		proto = ipv6.ProtocolNumber
	}
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFromSlice(ip.AsSlice()), Port: ap.Port()}, proto
}
