package udpbind

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

const (
	// batchSize is how many datagrams one receive or send call handles.
	batchSize = conn.IdealBatchSize
	// socketBufferSize is the socket buffer asked for; without
	// CAP_NET_ADMIN the kernel caps it at net.core.{r,w}mem_max.
	socketBufferSize = 7 << 20
)

// Bind is a conn.Bind on one IPv4 and one IPv6 UDP socket sharing a port.
type Bind struct {
	mu     sync.Mutex
	v4, v6 *socket // nil while closed, or when the family is unavailable

	sends   sync.Pool // *sendBatch
	replies replyQueue
}

var _ conn.Bind = (*Bind)(nil)

// New returns a closed Bind; wireguard-go opens it.
func New() conn.Bind { return &Bind{} }

// socket is one open UDP socket of the Bind.
type socket struct {
	conn      *net.UDPConn
	raw       syscall.RawConn
	is6       bool
	rxOffload bool        // UDP_GRO on: reads may hold several datagrams
	txOffload atomic.Bool // UDP_SEGMENT usable; cleared when the device refuses it
}

// Open listens on port (0: any free port, the same for both families).
func (b *Bind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v4 != nil || b.v6 != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	for tries := 0; ; tries++ {
		v4, actual, err := listen("udp4", port)
		if err != nil && !errors.Is(err, syscall.EAFNOSUPPORT) {
			return nil, 0, err
		}
		if v4 == nil {
			actual = port
		}
		v6, actual6, err := listen("udp6", actual)
		if err != nil && port == 0 && errors.Is(err, syscall.EADDRINUSE) && tries < 100 {
			// The free IPv4 port is taken for IPv6: pick another.
			v4.conn.Close()
			continue
		}
		if err != nil && !errors.Is(err, syscall.EAFNOSUPPORT) {
			if v4 != nil {
				v4.conn.Close()
			}
			return nil, 0, err
		}
		if v4 == nil && v6 == nil {
			return nil, 0, syscall.EAFNOSUPPORT
		}
		var fns []conn.ReceiveFunc
		if v4 != nil {
			fns = append(fns, newReceiver(v4).receiveIPv4)
		} else {
			actual = actual6
		}
		if v6 != nil {
			fns = append(fns, newReceiver(v6).receiveIPv6)
		}
		b.v4, b.v6 = v4, v6
		return fns, actual, nil
	}
}

// listen opens one socket with the options the Bind relies on.
func listen(network string, port uint16) (*socket, uint16, error) {
	is6 := network == "udp6"
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		cerr := rc.Control(func(fd uintptr) { err = setOptions(int(fd), is6) })
		return errors.Join(cerr, err)
	}}
	pc, err := lc.ListenPacket(context.Background(), network, ":"+strconv.Itoa(int(port)))
	if err != nil {
		return nil, 0, err
	}
	c := pc.(*net.UDPConn)
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	s := &socket{conn: c, raw: raw, is6: is6}
	_ = raw.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		s.txOffload.Store(err == nil)
		gro, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO)
		s.rxOffload = err == nil && gro == 1
		if err != nil {
			// A kernel that takes UDP_GRO but cannot report it (before
			// 5.12): turn it off rather than guess how reads arrive.
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 0)
		}
	})
	return s, uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
}

// setOptions runs before bind: buffers, packet info for sticky sources,
// IPv6-only, GRO.
func setOptions(fd int, is6 bool) error {
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBufferSize)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, socketBufferSize)
	// Beyond mem_max where CAP_NET_ADMIN allows; a failure only costs speed.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBufferSize)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBufferSize)
	if is6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
			return fmt.Errorf("IPV6_RECVPKTINFO: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fmt.Errorf("IPV6_V6ONLY: %w", err)
		}
	} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		return fmt.Errorf("IP_PKTINFO: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	return nil
}

// LocalPort is the UDP port the Bind listens on; 0 while it is closed.
func (b *Bind) LocalPort() uint16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range []*socket{b.v4, b.v6} {
		if s != nil {
			return s.conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		}
	}
	return 0
}

// Close closes both sockets; the receive functions then return net.ErrClosed.
func (b *Bind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, s := range []*socket{b.v4, b.v6} {
		if s != nil {
			errs = append(errs, s.conn.Close())
		}
	}
	b.v4, b.v6 = nil, nil
	b.replies.drop()
	return errors.Join(errs...)
}

// SetMark sets SO_MARK on both sockets (wg-quick's fwmark for full tunnels).
func (b *Bind) SetMark(mark uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range []*socket{b.v4, b.v6} {
		if s == nil {
			continue
		}
		var err error
		if cerr := s.raw.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
		}); cerr != nil {
			return cerr
		}
		if err != nil {
			return fmt.Errorf("setting fwmark: %w", err)
		}
	}
	return nil
}

// ParseEndpoint reads an endpoint as "ip:port" or "[ip%zone]:port".
func (b *Bind) ParseEndpoint(s string) (conn.Endpoint, error) {
	return parseEndpoint(s)
}

// BatchSize is the number of datagrams per receive and send call.
func (b *Bind) BatchSize() int { return batchSize }

// socketFor is the open socket for sending to ep.
func (b *Bind) socketFor(ep *Endpoint) *socket { return b.familySocket(!ep.dst.Addr().Is4()) }

// familySocket is the open IPv6 or IPv4 socket.
func (b *Bind) familySocket(is6 bool) *socket {
	b.mu.Lock()
	defer b.mu.Unlock()
	if is6 {
		return b.v6
	}
	return b.v4
}
