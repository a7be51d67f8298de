package doctor

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// probePathMTU sends DF-set UDP datagrams of the tunnel's packet size to
// dst (the peer's WireGuard port, which drops them as malformed) and reads
// the kernel's path MTU for dst afterwards: a local link that is too small
// fails the send with EMSGSIZE, a router further on answers with ICMP
// "fragmentation needed", which lowers the kernel's cached PMTU. A path
// that drops big packets silently (an ICMP black hole) is not seen.
func probePathMTU(dst netip.AddrPort, size int) (int, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	v4 := dst.Addr().Unmap().Is4()
	level, discover, do, mtuOpt := unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO, unix.IP_MTU
	hdr := 20 + 8
	if !v4 {
		level, discover, do, mtuOpt = unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO, unix.IPV6_MTU
		hdr = 40 + 8
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, discover, do) }); err != nil || serr != nil {
		return 0, fmt.Errorf("setting DF: %w", errors.Join(err, serr))
	}
	readMTU := func() (int, error) {
		var m int
		var gerr error
		if err := raw.Control(func(fd uintptr) { m, gerr = unix.GetsockoptInt(int(fd), level, mtuOpt) }); err != nil {
			return 0, err
		}
		return m, gerr
	}
	payload := make([]byte, max(size-hdr, 0))
	for attempt := 0; attempt < 3; attempt++ {
		if m, err := readMTU(); err == nil && m < size {
			return m, nil
		}
		_, err := c.Write(payload)
		if err != nil && !errors.Is(err, syscall.EMSGSIZE) && !errors.Is(err, syscall.ECONNREFUSED) {
			return 0, err
		}
		if err == nil {
			time.Sleep(150 * time.Millisecond) // for an ICMP answer
		}
	}
	return readMTU()
}
