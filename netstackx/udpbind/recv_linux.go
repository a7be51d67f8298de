package udpbind

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// receiver is one socket's receive function and the memory it reuses:
// wireguard-go calls a receive function from one goroutine only, so nothing
// here is shared.
type receiver struct {
	s         *socket
	msgs      [batchSize]mmsghdr
	iovs      [batchSize]unix.Iovec
	names     [batchSize]unix.RawSockaddrInet6
	oob       [batchSize * oobPerMsg]byte
	endpoints endpointCache

	// The raw read's arguments and results, kept here so that its callback
	// is made once, not per call.
	batch  []mmsghdr
	got    int
	errno  unix.Errno
	readFn func(fd uintptr) bool
}

func newReceiver(s *socket) *receiver {
	r := &receiver{s: s, endpoints: endpointCache{}}
	r.readFn = r.read
	return r
}

// receiveIPv4 and receiveIPv6 are the conn.ReceiveFuncs; wireguard-go names
// its log lines after the suffix.
func (r *receiver) receiveIPv4(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	return r.receive(bufs, sizes, eps)
}

func (r *receiver) receiveIPv6(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	return r.receive(bufs, sizes, eps)
}

func (r *receiver) read(fd uintptr) bool {
	r.got, r.errno = recvmmsg(fd, r.batch)
	return r.errno != unix.EAGAIN
}

func (r *receiver) receive(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	n := min(len(bufs), batchSize)
	if n == 0 {
		return 0, nil
	}
	// With GRO one read may hold up to maxSegments datagrams: read into the
	// last buffers and split forward into the first ones.
	first := 0
	if r.s.rxOffload {
		first = n - max(n/maxSegments, 1)
	}
	for i := first; i < n; i++ {
		m := &r.msgs[i]
		r.iovs[i] = unix.Iovec{Base: &bufs[i][0]}
		r.iovs[i].SetLen(len(bufs[i]))
		m.hdr = unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&r.names[i])),
			Namelen: unix.SizeofSockaddrInet6,
			Iov:     &r.iovs[i],
			Control: &r.oob[i*oobPerMsg],
		}
		m.hdr.SetIovlen(1)
		m.hdr.SetControllen(oobPerMsg)
		m.n = 0
	}
	r.batch = r.msgs[first:n]
	if err := r.s.raw.Read(r.readFn); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", r.errno)
	}
	out := 0
	for i := first; i < first+r.got; i++ {
		m := &r.msgs[i]
		src, scope, ok := sockaddrPort(&r.names[i])
		if !ok || m.n == 0 {
			continue
		}
		local, ifindex, gso := parseControl(r.oob[i*oobPerMsg : i*oobPerMsg+min(int(m.hdr.Controllen), oobPerMsg)])
		ep := r.endpoints.get(endpointKey{src: src, scope: scope, local: local, ifindex: ifindex})
		data := bufs[i][:m.n]
		if gso <= 0 {
			gso = len(data)
		}
		for start := 0; start < len(data); start += gso {
			if out > i {
				return 0, errors.New("udpbind: a GRO read holds more datagrams than buffers")
			}
			end := min(start+gso, len(data))
			if out != i || start != 0 {
				copy(bufs[out], data[start:end])
			}
			sizes[out] = end - start
			eps[out] = ep
			out++
		}
	}
	return out, nil
}
