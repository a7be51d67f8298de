package udpbind

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
)

// openBind opens b on a free port and closes it when the test ends.
func openBind(t *testing.T, b conn.Bind) ([]conn.ReceiveFunc, uint16) {
	t.Helper()
	fns, port, err := b.Open(0)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return fns, port
}

// udpPeer is a plain socket on loopback playing the other side.
func udpPeer(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readOne(t *testing.T, c *net.UDPConn) ([]byte, netip.AddrPort) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("reading on %s: %v", c.LocalAddr(), err)
	}
	return buf[:n], from
}

func endpointOf(t *testing.T, b conn.Bind, c *net.UDPConn) conn.Endpoint {
	t.Helper()
	ep, err := b.ParseEndpoint(c.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// inNetns runs the test named by t again in a child process in a network
// namespace of its own, whose loopback also has addrs, and reports the
// child's result; it returns true in the child, where the test goes on.
// A whole process, not a locked thread: every socket and every thread of
// the child is in that namespace.
func inNetns(t *testing.T, addrs ...string) (child bool) {
	t.Helper()
	if os.Getenv("UDPBIND_TEST_NETNS") == "1" {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		for _, a := range addrs {
			if err == nil {
				err = netlink.AddrAdd(lo, &netlink.Addr{IPNet: netlink.NewIPNet(net.ParseIP(a)), Flags: unix.IFA_F_NODAD})
			}
		}
		if err != nil {
			t.Fatalf("setting up the namespace's loopback: %v", err)
		}
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "UDPBIND_TEST_NETNS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("needs a network namespace of its own (root): %v", err)
	}
	t.Logf("in a namespace of its own:\n%s", out)
	if err != nil {
		t.Fatalf("the test failed in its namespace: %v", err)
	}
	return false
}

// lostAfterFamilyChange sends to IPv6 peer A, an IPv4 peer, IPv6 peer B, the
// IPv4 peer again, and so on, and counts the datagrams that did not reach
// their peer.
func lostAfterFamilyChange(t *testing.T, b conn.Bind) (lost int) {
	openBind(t, b)
	var peers []*net.UDPConn
	var eps []conn.Endpoint
	for _, a := range []string{"[fd00::a]:0", "127.0.0.1:0", "[fd00::b]:0", "127.0.0.1:0"} {
		p := udpPeer(t, a)
		warmUp(t, p)
		peers, eps = append(peers, p), append(eps, endpointOf(t, b, p))
	}
	buf := make([]byte, 64)
	for i := range 12 {
		p, ep := peers[i%len(peers)], eps[i%len(peers)]
		msg := []byte{byte(i), 'w', 'g', 'u'}
		if err := b.Send([][]byte{msg}, ep); err != nil {
			t.Logf("datagram %d to %s: %v", i, p.LocalAddr(), err)
			lost++
			continue
		}
		p.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := p.ReadFromUDPAddrPort(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Logf("datagram %d to %s: got %x, %v", i, p.LocalAddr(), buf[:n], err)
			lost++
		}
	}
	return lost
}

// warmUp waits until p gets a datagram from a plain socket: the kernel
// installs an added IPv6 address's local route a moment later, in a work
// queue, and drops what arrives before. (Unconnected: a connected socket
// would keep the route it found first.)
func warmUp(t *testing.T, p *net.UDPConn) {
	t.Helper()
	c, err := net.ListenUDP("udp", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := p.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 8)
	for try := 0; ; try++ {
		c.WriteToUDPAddrPort([]byte("warm"), to)
		p.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, _, err := p.ReadFromUDPAddrPort(buf)
		if err == nil {
			return
		}
		if try == 100 {
			t.Fatalf("%s never received a plain datagram in 5 s: %v", p.LocalAddr(), err)
		}
	}
}

// A hub with IPv4 and IPv6 peers, or a peer roaming from one to the other:
// every send reaches its own destination.
func TestSendAlternatingFamilies(t *testing.T) {
	if !inNetns(t, "fd00::a", "fd00::b") {
		return
	}
	if lost := lostAfterFamilyChange(t, New()); lost != 0 {
		t.Fatalf("%d of 12 datagrams lost when sends alternate between IPv4 and IPv6", lost)
	}
	// For the record, wireguard-go's own bind on the same sequence: its
	// pooled address keeps an IPv4 length, so the IPv6 send after an IPv4
	// one keeps 12 bytes of the IPv6 address before (PR #135 upstream).
	t.Logf("wireguard-go StdNetBind lost %d of 12", lostAfterFamilyChange(t, conn.NewStdNetBind()))
}

// receiveAll calls the receive functions until want datagrams arrived.
func receiveAll(t *testing.T, fn conn.ReceiveFunc, want int) ([][]byte, []conn.Endpoint) {
	t.Helper()
	bufs := make([][]byte, batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, 1<<16)
	}
	sizes := make([]int, batchSize)
	eps := make([]conn.Endpoint, batchSize)
	var got [][]byte
	var from []conn.Endpoint
	for len(got) < want {
		n, err := fn(bufs, sizes, eps)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for i := range n {
			if sizes[i] == 0 {
				continue
			}
			got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
			from = append(from, eps[i])
		}
	}
	return got, from
}

// Datagrams of one source arrive in order, with their sizes, and share one
// endpoint that names the source and the local address they came to.
func TestReceiveBatch(t *testing.T) {
	b := New()
	fns, port := openBind(t, b)
	client := udpPeer(t, "127.0.0.1:0")
	// 127.0.0.3 is ours too (loopback is a /8): the sticky source.
	to := netip.MustParseAddrPort("127.0.0.3:0")
	to = netip.AddrPortFrom(to.Addr(), port)
	var sent [][]byte
	for i := range 40 {
		size := 1200
		if i%10 == 9 {
			size = 300 // short ones end GRO runs
		}
		msg := bytes.Repeat([]byte{byte(i)}, size)
		sent = append(sent, msg)
		if _, err := client.WriteToUDPAddrPort(msg, to); err != nil {
			t.Fatal(err)
		}
	}
	got, from := receiveAll(t, fns[0], len(sent))
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("datagram %d: got %d bytes of %d, want %d bytes of %d", i, len(got[i]), got[i][0], len(sent[i]), sent[i][0])
		}
		if from[i] != from[0] {
			t.Fatalf("datagram %d has its own endpoint: one source should share one", i)
		}
	}
	ep := from[0]
	if ep.DstToString() != client.LocalAddr().String() {
		t.Errorf("endpoint %s, want the client %s", ep.DstToString(), client.LocalAddr())
	}
	if ep.SrcIP() != to.Addr() {
		t.Errorf("sticky source %s, want %s", ep.SrcIP(), to.Addr())
	}

	// A reply leaves from the sticky source, not the route's default.
	if err := b.Send([][]byte{[]byte("reply")}, ep); err != nil {
		t.Fatal(err)
	}
	if _, src := readOne(t, client); src != to {
		t.Errorf("reply came from %s, want %s", src, to)
	}
	// Once cleared, the kernel picks the source again...
	ep.ClearSrc()
	if ep.SrcIP().IsValid() {
		t.Errorf("SrcIP after ClearSrc = %s", ep.SrcIP())
	}
	if err := b.Send([][]byte{[]byte("reply")}, ep); err != nil {
		t.Fatal(err)
	}
	if _, src := readOne(t, client); src.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("reply after ClearSrc came from %s, want the default 127.0.0.1", src)
	}
	// ...and the next datagram from the peer makes a new sticky endpoint.
	client.WriteToUDPAddrPort([]byte("again"), to)
	_, again := receiveAll(t, fns[0], 1)
	if again[0] == ep || again[0].SrcIP() != to.Addr() {
		t.Errorf("after ClearSrc the next datagram reuses the cleared endpoint")
	}
}

// A sticky source that is no longer the host's (its address was removed)
// is dropped and the reply still leaves, from the source the kernel picks,
// instead of failing until a handshake times out.
func TestSendFromVanishedSource(t *testing.T) {
	b := New()
	openBind(t, b)
	client := udpPeer(t, "127.0.0.1:0")
	dst := client.LocalAddr().(*net.UDPAddr).AddrPort()
	// 198.51.100.99 (documentation range) is no address of this host; no
	// datagram goes to it, it is only the stale source.
	ep := newEndpoint(dst, 0, netip.MustParseAddr("198.51.100.99"), 1)
	if err := b.Send([][]byte{[]byte("reply")}, ep); err != nil {
		t.Fatalf("send with a vanished sticky source: %v", err)
	}
	if _, src := readOne(t, client); src.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("reply came from %s, want the kernel's choice 127.0.0.1", src)
	}
	if ep.SrcIP().IsValid() {
		t.Errorf("the vanished source %s is still sticky", ep.SrcIP())
	}
}

// Runs of equal packets go out as GSO messages and arrive as the same
// datagrams: a short packet ends a run, and so do the payload limit of one
// IP packet (47 x 1400 bytes do not fit) and the kernel's 64 segments.
func TestSendSegments(t *testing.T) {
	b := New()
	openBind(t, b)
	peer := udpPeer(t, "127.0.0.1:0")
	// Everything arrives before the test reads: room for it all (root
	// may go past rmem_max).
	rc, _ := peer.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) })
	var bufs [][]byte
	add := func(n, size int) {
		for range n {
			bufs = append(bufs, bytes.Repeat([]byte{byte(len(bufs))}, size))
		}
	}
	add(50, 1400)
	add(1, 77)
	add(70, 100)
	add(1, 33)
	if err := b.Send(bufs, endpointOf(t, b, peer)); err != nil {
		t.Fatal(err)
	}
	for i, want := range bufs {
		got, _ := readOne(t, peer)
		if !bytes.Equal(got, want) {
			t.Fatalf("datagram %d: got %d bytes of %d, want %d bytes of %d", i, len(got), got[0], len(want), want[0])
		}
	}
	sb := &sendBatch{}
	if n := sb.build(bufs, endpointOf(t, b, peer).(*Endpoint), false, true); n != 4 {
		t.Errorf("%d packets in %d GSO messages, want 4 (46, 4+1, 64, 6+1)", len(bufs), n)
	}
	// 45 packets of an MTU-1420 tunnel fit one IP packet but not
	// maxGSOPayload: the kernel would cut them up before the receiver.
	full := make([][]byte, 45)
	for i := range full {
		full[i] = make([]byte, 1452)
	}
	if n := sb.build(full, endpointOf(t, b, peer).(*Endpoint), false, true); n != 2 {
		t.Errorf("45 packets of 1452 bytes in %d GSO messages, want 2 (44, 1)", n)
	}
}

// Receiving from a known source allocates nothing.
func TestReceiveAllocatesNothing(t *testing.T) {
	b := New()
	fns, port := openBind(t, b)
	client := udpPeer(t, "127.0.0.1:0")
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	bufs := make([][]byte, batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, 1<<16)
	}
	sizes := make([]int, batchSize)
	eps := make([]conn.Endpoint, batchSize)
	msg := make([]byte, 1200)
	round := func() {
		for range 16 {
			client.WriteToUDPAddrPort(msg, to)
		}
		for got := 0; got < 16; {
			n, err := fns[0](bufs, sizes, eps)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	round() // the first datagram of a source makes its endpoint
	if allocs := testing.AllocsPerRun(50, round); allocs > 0 {
		t.Errorf("%.1f allocations per 16 datagrams received, want 0", allocs)
	}
}

func TestCloseEndsReceive(t *testing.T) {
	b := New()
	fns, _, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, len(fns))
	for _, fn := range fns {
		go func() {
			bufs := [][]byte{make([]byte, 1500)}
			_, err := fn(bufs, make([]int, 1), make([]conn.Endpoint, 1))
			done <- err
		}()
	}
	b.Close()
	for range fns {
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("receive after Close: %v, want net.ErrClosed", err)
		}
	}
	if _, _, err := b.Open(0); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	b.Close()
}

func TestParseEndpoint(t *testing.T) {
	b := New()
	for in, want := range map[string]string{
		"192.0.2.1:51820":        "192.0.2.1:51820",
		"[2001:db8::1]:51820":    "[2001:db8::1]:51820",
		"[::ffff:192.0.2.1]:443": "192.0.2.1:443",
		"[fe80::1%1]:51820":      "[fe80::1%1]:51820",
	} {
		ep, err := b.ParseEndpoint(in)
		if err != nil {
			t.Errorf("ParseEndpoint(%q): %v", in, err)
			continue
		}
		if ep.DstToString() != want {
			t.Errorf("ParseEndpoint(%q) = %s, want %s", in, ep.DstToString(), want)
		}
	}
	for _, bad := range []string{"", "192.0.2.1", "[fe80::1%nosuchif0]:1", "host:51820"} {
		if _, err := b.ParseEndpoint(bad); err == nil {
			t.Errorf("ParseEndpoint(%q) accepted", bad)
		}
	}
}

func TestControlBufferFits(t *testing.T) {
	if oobSize > oobPerMsg {
		t.Fatalf("control messages need %d bytes, buffers hold %d", oobSize, oobPerMsg)
	}
}

// cookieReply is a cookie reply as wireguard-go sends it, numbered i.
func cookieReply(i int) []byte {
	b := make([]byte, device.MessageCookieReplySize)
	b[0] = device.MessageCookieReplyType
	b[4], b[5] = byte(i), byte(i>>8)
	return b
}

// Cookie replies are held for a batch and sent together: every one arrives,
// as it was, to its own destination (both families, several peers), also a
// lone one (after the delay) and more than a batch; the caller's buffer is
// its own again at once.
func TestSendCookieRepliesBatched(t *testing.T) {
	b := New()
	openBind(t, b)
	peers := []*net.UDPConn{udpPeer(t, "127.0.0.1:0"), udpPeer(t, "127.0.0.1:0"), udpPeer(t, "[::1]:0")}
	eps := make([]conn.Endpoint, len(peers))
	for i, p := range peers {
		eps[i] = endpointOf(t, b, p)
	}

	// A lone reply goes out after replyDelay.
	lone := cookieReply(7)
	if err := b.Send([][]byte{lone}, eps[0]); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(lone)
	lone[4] = 0xff // the Bind sends its own copy
	if got, _ := readOne(t, peers[0]); !bytes.Equal(got, want) {
		t.Fatalf("lone reply: got %x, want %x", got, want)
	}

	// 300 replies, round robin over the peers: two full batches and a rest.
	const n = 300
	for i := range n {
		if err := b.Send([][]byte{cookieReply(i)}, eps[i%len(eps)]); err != nil {
			t.Fatal(err)
		}
	}
	for pi, p := range peers {
		for i := pi; i < n; i += len(peers) {
			if got, _ := readOne(t, p); !bytes.Equal(got, cookieReply(i)) {
				t.Fatalf("peer %d: got %x, want reply %d", pi, got[:8], i)
			}
		}
	}
}

// A reply still queued when the Bind closes is dropped, without a send on a
// closed socket; the Bind opens again and sends.
func TestCookieRepliesAfterClose(t *testing.T) {
	b := New()
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	p := udpPeer(t, "127.0.0.1:0")
	ep := endpointOf(t, b, p)
	if err := b.Send([][]byte{cookieReply(1)}, ep); err != nil {
		t.Fatal(err)
	}
	b.Close()
	time.Sleep(3 * replyDelay)
	p.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := p.ReadFromUDPAddrPort(make([]byte, 100)); err == nil {
		t.Error("a reply queued before Close was sent")
	}
	openBind(t, b)
	if err := b.Send([][]byte{cookieReply(2)}, ep); err != nil {
		t.Fatal(err)
	}
	if got, _ := readOne(t, p); !bytes.Equal(got, cookieReply(2)) {
		t.Errorf("after reopening: got %x", got)
	}
}

// A cookie reply goes out from the address its initiation came to, as every
// other reply does: a hub with several addresses answers from the one the
// initiator knows.
func TestCookieReplyFromStickySource(t *testing.T) {
	b := New()
	fns, port := openBind(t, b)
	p := udpPeer(t, "127.0.0.1:0")
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)
	if _, err := p.WriteToUDPAddrPort([]byte("initiation"), to); err != nil {
		t.Fatal(err)
	}
	_, from := receiveAll(t, fns[0], 1)
	if err := b.Send([][]byte{cookieReply(3)}, from[0]); err != nil {
		t.Fatal(err)
	}
	got, src := readOne(t, p)
	if !bytes.Equal(got, cookieReply(3)) || src != to {
		t.Errorf("reply %x from %v, want from %v", got[:8], src, to)
	}
}
