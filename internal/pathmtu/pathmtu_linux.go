package pathmtu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Probe sends up to attempts DF-set UDP datagrams of size bytes (IP header
// included) to dst and returns the kernel's path MTU for dst afterwards,
// waiting up to wait after each for an ICMP answer. A local link that is
// too small fails the send with EMSGSIZE; a router further on answers with
// ICMP "fragmentation needed", which lowers the kernel's cached path MTU
// (and ends the wait: the connected socket reports it). It returns as soon
// as the path MTU is known to be below size. A path that drops big packets
// silently (an ICMP black hole) is not seen.
//
// The datagrams carry zeros: sent to a WireGuard port, they are dropped as
// malformed messages.
func Probe(dst netip.AddrPort, size, attempts int, wait time.Duration) (int, error) {
	return ProbeContext(context.Background(), dst, size, attempts, wait)
}

// ProbeContext is Probe, ending early with ctx.Err() when ctx is done.
func ProbeContext(ctx context.Context, dst netip.AddrPort, size, attempts int, wait time.Duration) (int, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	level, discover, do, mtuOpt := unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO, unix.IP_MTU
	hdr := 20 + 8
	if !dst.Addr().Unmap().Is4() {
		level, discover, do, mtuOpt = unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO, unix.IPV6_MTU
		hdr = 40 + 8
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, discover, do) }); err != nil || serr != nil {
		return 0, fmt.Errorf("setting DF: %w", errors.Join(err, serr))
	}
	pmtu := func() (int, error) {
		var m int
		var gerr error
		if err := raw.Control(func(fd uintptr) { m, gerr = unix.GetsockoptInt(int(fd), level, mtuOpt) }); err != nil {
			return 0, err
		}
		return m, gerr
	}
	payload := make([]byte, max(size-hdr, 0))
	var reply [1]byte
	for i := 0; i < attempts; i++ {
		if m, err := pmtu(); err == nil && m < size {
			return m, nil
		}
		_, err := c.Write(payload)
		switch {
		case errors.Is(err, syscall.EMSGSIZE):
			continue // the kernel knows a smaller MTU already
		case err != nil && !errors.Is(err, syscall.ECONNREFUSED):
			return 0, err
		}
		// Wait for an answer: ICMP "fragmentation needed" (EMSGSIZE) or
		// "port unreachable" (ECONNREFUSED: the datagram got through) end
		// the read early; silence lasts until the deadline.
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		c.SetReadDeadline(time.Now().Add(wait))
		_, err = c.Read(reply[:])
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
	}
	return pmtu()
}
