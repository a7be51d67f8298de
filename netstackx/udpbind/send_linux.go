package udpbind

import (
	"errors"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// sendBatch is the memory of one Send: wireguard-go sends to different peers
// concurrently, so Sends take one from the Bind's pool.
type sendBatch struct {
	msgs [batchSize]mmsghdr
	iovs [batchSize]unix.Iovec
	oob  [batchSize * oobPerMsg]byte
	// names are the messages' destinations: names[0] for every message of
	// a Send (one endpoint), one each for a batch of cookie replies.
	names [batchSize]unix.RawSockaddrInet6

	// The raw write's arguments and result (see receiver).
	pending []mmsghdr
	errno   unix.Errno
	writeFn func(fd uintptr) bool
}

func (b *Bind) getBatch() *sendBatch {
	if sb, ok := b.sends.Get().(*sendBatch); ok {
		return sb
	}
	sb := &sendBatch{}
	sb.writeFn = sb.write
	return sb
}

// Send writes bufs to ep, as few sendmmsg messages as GSO allows.
func (b *Bind) Send(bufs [][]byte, cep conn.Endpoint) error {
	ep, ok := cep.(*Endpoint)
	if !ok {
		return conn.ErrWrongEndpointType
	}
	if isCookieReply(bufs) {
		b.replies.add(b, bufs[0], ep)
		return nil
	}
	s := b.socketFor(ep)
	if s == nil {
		return syscall.EAFNOSUPPORT
	}
	sb := b.getBatch()
	defer b.sends.Put(sb)

	gso := s.txOffload.Load()
	err := sb.send(s, sb.build(bufs, ep, s.is6, gso))
	if err != nil && gso && errors.Is(err, unix.EIO) {
		// EIO: the route's device cannot checksum segments (UDP_SEGMENT
		// needs it). Send unsegmented from now on.
		s.txOffload.Store(false)
		err = sb.send(s, sb.build(bufs, ep, s.is6, false))
	}
	if err != nil && staleSource(err) {
		if _, _, sticky := ep.sticky(); sticky {
			// The sticky source went away (its address was removed or
			// moved): let the kernel pick one, as Linux's WireGuard does.
			// wireguard-go only resets sources on route changes for its
			// own StdNetBind, so without this a host that changes address
			// stays mute until a handshake times out. Datagrams of the batch
			// sent before the error go again; the peer drops them as
			// replays.
			ep.ClearSrc()
			err = sb.send(s, sb.build(bufs, ep, s.is6, s.txOffload.Load()))
		}
	}
	return err
}

// staleSource reports whether a send failed because of its source address.
func staleSource(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EADDRNOTAVAIL)
}

// build fills the batch's messages for bufs and returns how many there are.
// With gso, runs of equal-sized packets (the last may be shorter) become one
// message whose iovecs point at the packets: the kernel joins and cuts them,
// nothing is copied here.
func (sb *sendBatch) build(bufs [][]byte, ep *Endpoint, is6, gso bool) int {
	namelen := fillSockaddr(&sb.names[0], ep.dst, ep.scope, is6)
	src, ifindex, sticky := ep.sticky()
	sticky = sticky && src.Is6() == is6
	limit := min(maxIPv4UDPPayload, maxGSOPayload)
	if is6 {
		limit = min(maxIPv6UDPPayload, maxGSOPayload)
	}
	n := 0
	for i := 0; i < len(bufs); n++ {
		seg, total, j := len(bufs[i]), len(bufs[i]), i+1
		for gso && j < len(bufs) && j-i < maxSegments && len(bufs[j]) <= seg && total+len(bufs[j]) <= limit {
			total += len(bufs[j])
			j++
			if len(bufs[j-1]) < seg {
				break // only the last segment may be short
			}
		}
		for k := i; k < j; k++ {
			sb.iovs[k] = iovec(bufs[k])
		}
		oob := sb.oobFor(n, src, ifindex, sticky, is6)
		if j-i > 1 {
			oob = appendSegment(oob, uint16(seg))
		}
		sb.setMsg(n, &sb.names[0], namelen, i, j-i, oob)
		i = j
	}
	return n
}

// oobFor is message n's control buffer, holding the sticky source if there
// is one.
func (sb *sendBatch) oobFor(n int, src netip.Addr, ifindex int32, sticky, is6 bool) []byte {
	oob := sb.oob[n*oobPerMsg : n*oobPerMsg : (n+1)*oobPerMsg]
	if sticky {
		oob = appendPktinfo(oob, src, ifindex, is6)
	}
	return oob
}

// setMsg fills message n: destination name, the count iovecs from first,
// control messages oob.
func (sb *sendBatch) setMsg(n int, name *unix.RawSockaddrInet6, namelen uint32, first, count int, oob []byte) {
	m := &sb.msgs[n]
	m.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(name)), Namelen: namelen, Iov: &sb.iovs[first]}
	m.hdr.SetIovlen(count)
	if len(oob) > 0 {
		m.hdr.Control = &oob[0]
		m.hdr.SetControllen(len(oob))
	}
	m.n = 0
}

func iovec(b []byte) unix.Iovec {
	var v unix.Iovec
	if len(b) > 0 {
		v.Base = &b[0]
		v.SetLen(len(b))
	}
	return v
}

func (sb *sendBatch) send(s *socket, n int) error {
	sb.pending, sb.errno = sb.msgs[:n], 0
	if err := s.raw.Write(sb.writeFn); err != nil {
		return err
	}
	if sb.errno != 0 {
		return os.NewSyscallError("sendmmsg", sb.errno)
	}
	return nil
}

func (sb *sendBatch) write(fd uintptr) bool {
	for len(sb.pending) > 0 {
		n, errno := sendmmsg(fd, sb.pending)
		switch errno {
		case 0:
			sb.pending = sb.pending[n:]
		case unix.EINTR:
		case unix.EAGAIN:
			return false // wait until the socket is writable
		default:
			sb.errno = errno
			return true
		}
	}
	return true
}
