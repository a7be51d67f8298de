package netstackx

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// probeLab drives a tailProbe with hand-made segments of one connection,
// 10.0.0.1:40000 (the device) to 10.0.0.2:80, on a clock the test moves.
type probeLab struct {
	t        *testing.T
	p        *rackTLP
	clock    time.Time
	injected [][]byte
}

func newProbeLab(t *testing.T) *probeLab {
	l := &probeLab{t: t, clock: time.Unix(1000, 0)}
	own := netip.MustParseAddr("10.0.0.1")
	l.p = newRackTLP(func(a netip.Addr) bool { return a == own }, func(b []byte) {
		l.injected = append(l.injected, b)
	})
	l.p.now = func() time.Time { return l.clock }
	t.Cleanup(l.p.stop)
	return l
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpACK = 0x10
)

// segment builds an IPv4 TCP packet; payload bytes are all fill.
func segment(src, dst string, seq, ack uint32, flags byte, payload int, fill byte) []byte {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	pkt := make([]byte, 40+payload)
	pkt[0] = 0x45
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	pkt[8], pkt[9] = 64, 6
	copy(pkt[12:16], s.Addr().AsSlice())
	copy(pkt[16:20], d.Addr().AsSlice())
	binary.BigEndian.PutUint16(pkt[20:], s.Port())
	binary.BigEndian.PutUint16(pkt[22:], d.Port())
	binary.BigEndian.PutUint32(pkt[24:], seq)
	binary.BigEndian.PutUint32(pkt[28:], ack)
	pkt[32] = 5 << 4
	pkt[33] = flags
	for i := 40; i < len(pkt); i++ {
		pkt[i] = fill
	}
	return pkt
}

func (l *probeLab) send(pkts ...[]byte) {
	sizes := make([]int, len(pkts))
	bufs := make([][]byte, len(pkts))
	for i, p := range pkts {
		// The offset wireguard-go leaves for its header, and room behind.
		bufs[i] = append(make([]byte, 16), append(p, make([]byte, 64)...)...)
		sizes[i] = len(p)
	}
	l.p.sent(bufs, sizes, 16, l.clock)
}

func (l *probeLab) receive(pkts ...[]byte) {
	bufs := make([][]byte, len(pkts))
	for i, p := range pkts {
		bufs[i] = append(make([]byte, 16), p...)
	}
	l.p.received(bufs, 16, l.clock)
}

// open runs the handshake with a 1 ms round trip: the flow's first RTT
// sample, so its probe timeout is the 2 ms floor.
func (l *probeLab) open() {
	l.send(segment("10.0.0.1:40000", "10.0.0.2:80", 999, 0, tcpSYN, 0, 0))
	l.clock = l.clock.Add(time.Millisecond)
	l.receive(segment("10.0.0.2:80", "10.0.0.1:40000", 5000, 1000, tcpSYN|tcpACK, 0, 0))
}

// flight sends n segments of 100 bytes from seq, the last filled with fill.
func (l *probeLab) flight(seq uint32, n int, fill byte) {
	var pkts [][]byte
	for i := 0; i < n; i++ {
		f := byte('a')
		if i == n-1 {
			f = fill
		}
		pkts = append(pkts, segment("10.0.0.1:40000", "10.0.0.2:80", seq+uint32(100*i), 5001, tcpACK, 100, f))
	}
	l.send(pkts...)
}

func (l *probeLab) ack(n uint32) {
	l.receive(segment("10.0.0.2:80", "10.0.0.1:40000", 5001, n, tcpACK, 0, 0))
}

// after moves the clock and runs the timer's work.
func (l *probeLab) after(d time.Duration) {
	l.clock = l.clock.Add(d)
	l.p.expire()
}

func TestTailProbeResendsTheTailOnceWhenTheACKIsLost(t *testing.T) {
	l := newProbeLab(t)
	l.open()
	l.flight(1000, 5, 'z')
	l.after(time.Millisecond)
	if len(l.injected) != 0 {
		t.Fatalf("probed after 1 ms, before the 2 ms timeout")
	}
	l.after(2 * time.Millisecond)
	if len(l.injected) != 1 {
		t.Fatalf("%d probes after 3 ms without an ACK, want 1", len(l.injected))
	}
	want := segment("10.0.0.1:40000", "10.0.0.2:80", 1400, 5001, tcpACK, 100, 'z')
	if !bytes.Equal(l.injected[0], want) {
		t.Fatalf("probe is not the last segment byte for byte")
	}
	l.after(time.Second)
	if len(l.injected) != 1 {
		t.Fatalf("%d probes: the tail was resent again before anything moved", len(l.injected))
	}
	if got := l.p.probes.Load(); got != 1 {
		t.Fatalf("probe counter %d, want 1", got)
	}
	// An ACK that moves the flow on allows a probe of the next tail.
	l.ack(1300)
	l.flight(1500, 3, 'y')
	l.after(5 * time.Millisecond)
	if len(l.injected) != 2 || l.injected[1][len(l.injected[1])-1] != 'y' {
		t.Fatalf("the next flight's tail was not probed (%d probes)", len(l.injected))
	}
}

func TestTailProbeLeavesAnsweredAndLoneSegmentsAlone(t *testing.T) {
	l := newProbeLab(t)
	l.open()
	l.flight(1000, 4, 'z')
	l.clock = l.clock.Add(time.Millisecond)
	l.ack(1400)
	l.after(time.Second)
	if len(l.injected) != 0 {
		t.Fatalf("probed a flight that was acknowledged")
	}
	// One segment in flight: the receiver may delay its ACK on purpose.
	l.flight(1400, 1, 'z')
	l.after(time.Second)
	if len(l.injected) != 0 {
		t.Fatalf("probed a lone segment")
	}
}

func TestTailProbeWaitsForTheRoundTrip(t *testing.T) {
	l := newProbeLab(t)
	l.send(segment("10.0.0.1:40000", "10.0.0.2:80", 999, 0, tcpSYN, 0, 0))
	l.clock = l.clock.Add(30 * time.Millisecond)
	l.receive(segment("10.0.0.2:80", "10.0.0.1:40000", 5000, 1000, tcpSYN|tcpACK, 0, 0))
	l.flight(1000, 5, 'z')
	l.after(50 * time.Millisecond)
	if len(l.injected) != 0 {
		t.Fatalf("probed after 50 ms on a path with a 30 ms round trip (timeout 2 RTT)")
	}
	l.after(15 * time.Millisecond)
	if len(l.injected) != 1 {
		t.Fatalf("%d probes after 65 ms, want 1", len(l.injected))
	}
}

func TestTailProbeSkipsOtherSendersAndClosedFlows(t *testing.T) {
	l := newProbeLab(t)
	// A segment the rootless hub forwards between two peers.
	var fwd [][]byte
	for i := 0; i < 5; i++ {
		fwd = append(fwd, segment("10.0.0.3:40000", "10.0.0.2:80", uint32(1000+100*i), 1, tcpACK, 100, 'f'))
	}
	l.send(fwd...)
	l.open()
	l.flight(1000, 5, 'z')
	l.send(segment("10.0.0.1:40000", "10.0.0.2:80", 1500, 5001, tcpFIN|tcpACK, 0, 0))
	l.after(time.Second)
	if len(l.injected) != 0 {
		t.Fatalf("probed a forwarded or closing flow")
	}
	if len(l.p.flows) != 0 {
		t.Fatalf("%d flows tracked, want 0", len(l.p.flows))
	}
}

func TestTailProbeStopsWhenStopped(t *testing.T) {
	l := newProbeLab(t)
	l.open()
	l.flight(1000, 5, 'z')
	l.p.stop()
	l.after(time.Second)
	if len(l.injected) != 0 {
		t.Fatalf("a stopped probe injected a packet")
	}
}

func TestParseTCPRejectsWhatItCannotRead(t *testing.T) {
	good := segment("10.0.0.1:1", "10.0.0.2:2", 1, 1, tcpACK, 10, 'x')
	if _, ok := parseTCP(good); !ok {
		t.Fatal("a well-formed segment did not parse")
	}
	frag := append([]byte(nil), good...)
	frag[6] = 0x20 // more fragments
	short := good[:30]
	badOff := append([]byte(nil), good...)
	badOff[32] = 15 << 4
	udp := append([]byte(nil), good...)
	udp[9] = 17
	for name, pkt := range map[string][]byte{"fragment": frag, "truncated": short, "data offset": badOff, "udp": udp, "empty": nil} {
		if _, ok := parseTCP(pkt); ok {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestTailProbeSavesAFlightWhoseACKIsLost sends one flight from a to c and
// loses every packet c sends back until a resends something: the receiver
// has every byte, only its ACK is gone. With the tail probe a resends the
// last segment within a few round trips and the retransmission timer never
// fires; without it (gVisor without RACK) only the timeout gets the
// connection going again, with its window cut to one segment.
func TestTailProbeSavesAFlightWhoseACKIsLost(t *testing.T) {
	for _, probe := range []bool{true, false} {
		t.Run(map[bool]string{true: "probe", false: "without"}[probe], func(t *testing.T) {
			a := newTestDevice(t, false, "10.0.0.1/24")
			c := newTestDevice(t, false, "10.0.0.2/24")
			if !probe {
				a.rack.stop()
			}
			// A 1 s floor under the retransmission timeout, so that a loaded
			// machine cannot make the timer win the race against the probe.
			floor := tcpip.TCPMinRTOOption(time.Second)
			if err := a.stack.SetTransportProtocolOption(tcp.ProtocolNumber, &floor); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var losing, lost bool
			var high uint32
			w := &wire{devs: []*Device{a, c}}
			w.drop = func(src *Device, pkt []byte) bool {
				s, ok := parseTCP(pkt)
				if !ok {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				if src == a && s.payload > 0 {
					end := s.seq + uint32(s.payload)
					switch {
					case !lost && !losing:
						losing, high = true, end
					case losing && seqAfter(end, high):
						high = end
					case losing:
						losing, lost = false, true // a resent: let the answer through
					}
					return false
				}
				return src == c && losing
			}
			w.start(t)
			sendAndAwaitAnswer(t, a, c, 8000)
			mu.Lock()
			if !lost {
				t.Fatal("the wire never lost the flight's ACK")
			}
			mu.Unlock()
			got := a.Counters()
			t.Logf("timeouts %d, tail probes %d", got["tcp_timeouts"], got["tcp_tail_probes"])
			if probe && (got["tcp_timeouts"] != 0 || got["tcp_tail_probes"] == 0) {
				t.Errorf("with the probe: %d timeouts and %d tail probes, want 0 and at least 1", got["tcp_timeouts"], got["tcp_tail_probes"])
			}
			if !probe && got["tcp_timeouts"] == 0 {
				t.Errorf("without the probe the timeout did not fire: the test no longer loses what it means to")
			}
		})
	}
}

// start pumps packets between the wire's devices until the test ends.
func (w *wire) start(t testing.TB) {
	for _, d := range w.devs {
		w.wg.Add(1)
		go w.pump(d)
	}
	t.Cleanup(func() {
		for _, d := range w.devs {
			d.Close()
		}
		w.wg.Wait()
	})
}

// sendAndAwaitAnswer writes size bytes over TCP from a to a listener on c
// (10.0.0.2:9000), which answers one byte once it has them all.
func sendAndAwaitAnswer(t *testing.T, a, c *Device, size int) {
	t.Helper()
	ln, err := c.Listen("tcp", "10.0.0.2:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		if _, err := io.ReadFull(s, make([]byte, size)); err == nil {
			s.Write([]byte{1})
		}
	}()
	conn, err := a.DialContext(context.Background(), "tcp", "10.0.0.2:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, 1)); err != nil {
		t.Fatalf("no answer: %v", err)
	}
}

func TestParseTCPv6(t *testing.T) {
	pkt := make([]byte, 60+5)
	pkt[0] = 0x60
	binary.BigEndian.PutUint16(pkt[4:], 25)
	pkt[6] = 6
	copy(pkt[8:24], netip.MustParseAddr("fd00::1").AsSlice())
	copy(pkt[24:40], netip.MustParseAddr("fd00::2").AsSlice())
	binary.BigEndian.PutUint16(pkt[40:], 1234)
	binary.BigEndian.PutUint16(pkt[42:], 80)
	binary.BigEndian.PutUint32(pkt[44:], 7)
	pkt[52] = 5 << 4
	pkt[53] = tcpACK
	s, ok := parseTCP(pkt)
	if !ok || s.src != netip.MustParseAddrPort("[fd00::1]:1234") || s.dst != netip.MustParseAddrPort("[fd00::2]:80") || s.seq != 7 || s.payload != 5 || !s.hasACK {
		t.Fatalf("parsed %+v, %v", s, ok)
	}
}

// BenchmarkTailProbeSent is the probe's cost on the send path: one batch of
// 64 data segments of one connection, as Device.Read hands them over.
func BenchmarkTailProbeSent(b *testing.B) {
	own := netip.MustParseAddr("10.0.0.1")
	p := newRackTLP(func(a netip.Addr) bool { return a == own }, func([]byte) {})
	defer p.stop()
	bufs := make([][]byte, 64)
	sizes := make([]int, 64)
	for i := range bufs {
		bufs[i] = segment("10.0.0.1:40000", "10.0.0.2:80", uint32(1000+1380*i), 1, tcpACK, 1380, 'x')
		sizes[i] = len(bufs[i])
	}
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for j := range bufs {
			binary.BigEndian.PutUint32(bufs[j][24:], uint32(1000+1380*(64*i+j)))
		}
		p.sent(bufs, sizes, 0, now)
	}
}
