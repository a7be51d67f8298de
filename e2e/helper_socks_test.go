package e2e

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"
)

// helperSOCKS5Env makes the source helper reach its address through the
// SOCKS5 proxy at this address (CONNECT), so a stream through a proxy is
// checksummed like any other.
const helperSOCKS5Env = "WGU_E2E_SOCKS5"

// dialSource dials the source helper's address, directly or through the
// proxy helperSOCKS5Env names. Either way the result is the *net.TCPConn
// the source half-closes.
func dialSource(addr string) (net.Conn, error) {
	socks := os.Getenv(helperSOCKS5Env)
	if socks == "" {
		return net.DialTimeout("tcp", addr, time.Second)
	}
	target, err := netip.ParseAddrPort(addr)
	if err != nil || !target.Addr().Is4() {
		return nil, fmt.Errorf("SOCKS5 target %q: expected IPv4:port", addr)
	}
	c, err := net.DialTimeout("tcp", socks, time.Second)
	if err != nil {
		return nil, err
	}
	if err := socks5Connect(c, target); err != nil {
		c.Close()
		return nil, fmt.Errorf("SOCKS5 CONNECT %s via %s: %w", addr, socks, err)
	}
	return c, nil
}

// socks5Connect does RFC 1928's no-auth greeting and a CONNECT to an IPv4
// target on c.
func socks5Connect(c net.Conn, target netip.AddrPort) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return err
	}
	var choice [2]byte
	if _, err := io.ReadFull(c, choice[:]); err != nil {
		return err
	}
	if choice != [2]byte{5, 0} {
		return fmt.Errorf("proxy chose method %v", choice)
	}
	a4, port := target.Addr().As4(), target.Port()
	req := append([]byte{5, 1, 0, 1}, a4[:]...)
	if _, err := c.Write(append(req, byte(port>>8), byte(port))); err != nil {
		return err
	}
	var reply [10]byte // VER REP RSV ATYP=1 BND.ADDR(4) BND.PORT(2)
	if _, err := io.ReadFull(c, reply[:4]); err != nil {
		return err
	}
	if reply[1] != 0 {
		return fmt.Errorf("proxy replied %d", reply[1])
	}
	if reply[3] != 1 {
		return fmt.Errorf("proxy bound an address of type %d, expected IPv4", reply[3])
	}
	_, err := io.ReadFull(c, reply[4:])
	return err
}
