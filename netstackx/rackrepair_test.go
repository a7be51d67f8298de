package netstackx

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// sack builds the peer's ACK of n carrying SACK blocks, each {start, end}.
func sack(n uint32, blocks ...[2]uint32) []byte {
	base := segment("10.0.0.2:80", "10.0.0.1:40000", 5001, n, tcpACK, 0, 0)
	opts := []byte{1, 1, 5, byte(2 + 8*len(blocks))}
	for _, b := range blocks {
		opts = binary.BigEndian.AppendUint32(opts, b[0])
		opts = binary.BigEndian.AppendUint32(opts, b[1])
	}
	pkt := append(append(base[:40:40], opts...), base[40:]...)
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	pkt[32] = byte((20+len(opts))/4) << 4
	return pkt
}

// data is the device's segment of 100 bytes at seq, filled with fill.
func data(seq uint32, fill byte) []byte {
	return segment("10.0.0.1:40000", "10.0.0.2:80", seq, 5001, tcpACK, 100, fill)
}

func TestRACKRepairResendsALostRetransmission(t *testing.T) {
	l := newProbeLab(t)
	l.open()
	l.flight(1000, 5, 'a')
	l.clock = l.clock.Add(time.Millisecond)
	// The first segment is lost; the stack resends it, then sends new data.
	l.receive(sack(1000, [2]uint32{1100, 1500}))
	l.send(data(1000, 'r'))
	l.send(data(1500, 'n'), data(1600, 'n'))
	if l.p.copies != 3 {
		t.Fatalf("a guarded flow keeps %d copies, want 3 (the resend and the new data)", l.p.copies)
	}
	// The resend is lost too: the new data sent after it arrives.
	l.clock = l.clock.Add(time.Millisecond)
	l.receive(sack(1000, [2]uint32{1100, 1700}))
	if len(l.injected) != 0 {
		t.Fatal("resent before the reordering window passed")
	}
	l.after(time.Millisecond)
	if len(l.injected) != 1 || !bytes.Equal(l.injected[0], data(1000, 'r')) {
		t.Fatalf("injected %d packets, want the lost resend once, byte for byte", len(l.injected))
	}
	if got := l.p.repairs.Load(); got != 1 {
		t.Errorf("repairs counter %d, want 1", got)
	}
	// The repair arrives: everything is acknowledged and the copies go.
	l.clock = l.clock.Add(time.Millisecond)
	l.receive(sack(1700))
	if l.p.copies != 0 {
		t.Errorf("%d copies left after everything was acknowledged", l.p.copies)
	}
	l.after(10 * time.Millisecond)
	if len(l.injected) != 1 {
		t.Errorf("%d packets injected after the flight was acknowledged", len(l.injected))
	}
}

func TestRACKRepairFindsAnOriginalLostInASmallWindow(t *testing.T) {
	l := newProbeLab(t)
	l.open()
	// A retransmission guards the flow; then a window of three segments,
	// whose first is lost: two SACKed segments are too few for the stack's
	// duplicate-ACK rule.
	l.send(data(900, 'x'))
	l.receive(sack(1000))
	l.flight(1000, 3, 'a')
	l.clock = l.clock.Add(time.Millisecond)
	l.receive(sack(1000, [2]uint32{1100, 1300}))
	l.after(time.Millisecond)
	if len(l.injected) != 1 || !bytes.Equal(l.injected[0], data(1000, 'a')) {
		t.Fatalf("injected %d packets, want the lost first segment", len(l.injected))
	}
}

func TestRACKRepairLeavesHealthyFlowsAlone(t *testing.T) {
	l := newProbeLab(t)
	l.open()
	for seq := uint32(1000); seq < 5000; seq += 500 {
		l.flight(seq, 5, 'a')
		l.clock = l.clock.Add(time.Millisecond)
		l.ack(seq + 500)
	}
	if l.p.copies != 0 {
		t.Errorf("a flow that never retransmitted keeps %d copies", l.p.copies)
	}
	// Reordering within the window is not a loss.
	l.send(data(5000, 'x')) // a resend: guarded from here on
	l.flight(5100, 3, 'a')
	l.clock = l.clock.Add(time.Millisecond)
	l.receive(sack(5100, [2]uint32{5200, 5400}))
	l.clock = l.clock.Add(100 * time.Microsecond)
	l.receive(sack(5400))
	l.after(10 * time.Millisecond)
	if len(l.injected) != 0 {
		t.Errorf("injected %d packets for a segment that was only late", len(l.injected))
	}
}

func TestRACKRepairGivesUpAfterMaxRepairs(t *testing.T) {
	l := newProbeLab(t)
	l.open()
	l.send(data(1000, 'r'))
	l.send(data(1000, 'r')) // resent: the flow is guarded
	l.send(data(1100, 'n'))
	for i := 0; i < maxRepairs+2; i++ {
		l.clock = l.clock.Add(time.Millisecond)
		// Something sent after the last repair keeps arriving.
		seq := 1100 + uint32(100*i)
		l.send(data(seq+100, 'n'))
		l.receive(sack(1000, [2]uint32{1100, seq + 100}))
		l.after(2 * time.Millisecond)
	}
	if got := l.p.repairs.Load(); got != maxRepairs {
		t.Errorf("repaired %d times, want %d", got, maxRepairs)
	}
}

func TestRACKRepairReleasesCopiesWhenTheFlowCloses(t *testing.T) {
	l := newProbeLab(t)
	l.open()
	l.send(data(900, 'x'))
	l.flight(1000, 4, 'a')
	if l.p.copies == 0 {
		t.Fatal("no copies kept")
	}
	l.send(segment("10.0.0.1:40000", "10.0.0.2:80", 1400, 5001, tcpACK|tcpFIN, 0, 0))
	if l.p.copies != 0 || len(l.p.flows) != 0 {
		t.Errorf("after FIN: %d copies, %d flows", l.p.copies, len(l.p.flows))
	}
}

func TestForEachSACK(t *testing.T) {
	var got [][2]uint32
	collect := func(s, e uint32) { got = append(got, [2]uint32{s, e}) }
	// Timestamps, then SACK with two blocks.
	opts := []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 18}
	opts = binary.BigEndian.AppendUint32(opts, 10)
	opts = binary.BigEndian.AppendUint32(opts, 20)
	opts = binary.BigEndian.AppendUint32(opts, 30)
	opts = binary.BigEndian.AppendUint32(opts, 40)
	forEachSACK(opts, collect)
	if len(got) != 2 || got[0] != [2]uint32{10, 20} || got[1] != [2]uint32{30, 40} {
		t.Errorf("blocks %v", got)
	}
	for _, bad := range [][]byte{{5}, {5, 1}, {5, 40, 0, 0}, {8, 0}, {0, 5, 10}} {
		got = nil
		forEachSACK(bad, collect)
		if len(got) != 0 {
			t.Errorf("%v: read blocks %v from malformed options", bad, got)
		}
	}
}

// TestRACKRepairSavesALostRetransmission loses one segment and then its
// retransmission between two real stacks. Without the device's repair the
// stack waits for its retransmission timeout (a 1 s floor here, so that a
// loaded machine cannot make the timer win the race).
func TestRACKRepairSavesALostRetransmission(t *testing.T) {
	for _, repair := range []bool{true, false} {
		t.Run(map[bool]string{true: "repair", false: "without"}[repair], func(t *testing.T) {
			a := newTestDevice(t, false, "10.0.0.1/24")
			c := newTestDevice(t, false, "10.0.0.2/24")
			if !repair {
				a.rack.stop()
			}
			floor := tcpip.TCPMinRTOOption(time.Second)
			if err := a.stack.SetTransportProtocolOption(tcp.ProtocolNumber, &floor); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var target uint32
			var drops int
			w := &wire{devs: []*Device{a, c}}
			w.drop = func(src *Device, pkt []byte) bool {
				s, ok := parseTCP(pkt)
				if !ok || src != a || s.payload == 0 {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				if target == 0 {
					target = s.seq + uint32(s.payload) // the second segment
				}
				if s.seq == target && drops < 2 {
					drops++
					return true
				}
				return false
			}
			w.start(t)
			sendAndAwaitAnswer(t, a, c, 60000)
			mu.Lock()
			if drops != 2 {
				t.Fatalf("the wire lost %d transmissions of the segment, want 2", drops)
			}
			mu.Unlock()
			got := a.Counters()
			t.Logf("timeouts %d, repairs %d, tail probes %d", got["tcp_timeouts"], got["tcp_rack_repairs"], got["tcp_tail_probes"])
			if repair && (got["tcp_timeouts"] != 0 || got["tcp_rack_repairs"] == 0) {
				t.Errorf("with the repair: %d timeouts and %d repairs, want 0 and at least 1", got["tcp_timeouts"], got["tcp_rack_repairs"])
			}
			if !repair && got["tcp_timeouts"] == 0 {
				t.Errorf("without the repair the timeout did not fire: the test no longer loses what it means to")
			}
		})
	}
}
