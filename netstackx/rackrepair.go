package netstackx

import (
	"encoding/binary"
	"sort"
	"time"
)

// RACK's loss detection at the device, for flows that are losing packets.
//
// With RACK off (see lossRecovery), gVisor finds a lost segment only by the
// duplicate-ACK rule (three segments SACKed above it) or by the
// retransmission timeout. Under heavy random loss both fail often: the window
// is a handful of segments, so fewer than three are left to be SACKed above a
// hole, and a lost retransmission is never SACKed around at all. Each such
// loss costs a timeout (50 ms or more, backed off) and a window of one
// segment. At 5 % loss that was most of an upload's time: 49 timeouts in
// 6.7 s of BenchmarkDeviceTCPLossy.
//
// RACK (RFC 8985, section 6) needs no count: a segment is lost when one sent
// after it has been delivered and a reordering window has passed since. The
// device can apply that rule itself, because it sees every segment leave and
// every ACK and SACK block come back; what it lacks is the segment, so while
// a flow is guarded (it retransmitted something within guardFor) the device
// keeps a copy of each data segment until it is acknowledged. When the
// segment at the receiver's cumulative ACK is one RACK finds lost, it is sent
// again from that copy, byte for byte, as the tail probe does; the stack sees
// its data acknowledged and goes on.
//
// The stack's congestion control does not hear of a loss the device repairs
// unless its own rules find it too. In a large window they find it first
// (three duplicate ACKs arrive within a round trip, before the reordering
// window runs out) and the stack retransmits and reduces its window; the
// device repairs only what the stack would have left to the timeout.

// sentCopy is a data segment the device keeps while its flow is guarded.
type sentCopy struct {
	seq, end uint32
	// sentAt is when it (or its last resend) left the device.
	sentAt time.Time
	// sacked: the receiver reported it in a SACK block.
	sacked bool
	// repairs counts the device's own resends.
	repairs int
	pkt     []byte
}

// flightCopy is the RACK state of a guarded flow.
type flightCopy struct {
	// until: the flow is guarded (new segments are copied) until then.
	until time.Time
	// segs are the copies not yet cumulatively acknowledged, by sequence.
	segs []sentCopy
	// rackAt and rackEnd identify the most recently sent segment known to
	// be delivered (RACK.xmit_ts, RACK.end_seq), rackRTT its round trip.
	rackAt  time.Time
	rackEnd uint32
	rackRTT time.Duration
	// checkAt is when a segment not yet past its reordering window will
	// be (RACK's reorder timer); zero when none is waiting.
	checkAt time.Time
	// una is the highest cumulative ACK seen.
	una uint32
}

const (
	// guardFor is how long after a retransmission a flow stays guarded.
	guardFor = time.Second
	// maxFlightCopies bounds one flow's copies, maxCopies all flows' (about
	// 6 MiB of packets); beyond them segments are left to the stack.
	maxFlightCopies = 512
	maxCopies       = 4096
	// copyCap is the least capacity of a copy's buffer: a full-sized
	// packet at the usual MTUs, so that a buffer fits whatever it is
	// reused for.
	copyCap = 1500
	// maxRepairs is how often the device resends one segment; after that
	// the stack's retransmission timeout takes over.
	maxRepairs = 3
	// maxSpare bounds the packet buffers kept for reuse.
	maxSpare = maxCopies
)

// keep copies a new data segment of a guarded flow. Called with p.mu held.
func (p *rackTLP) keep(f *flow, seq, end uint32, pkt []byte, now time.Time) {
	r := &f.rep
	if now.After(r.until) || len(r.segs) >= maxFlightCopies || p.copies >= maxCopies {
		return
	}
	if n := len(r.segs); n > 0 && seqAfter(r.segs[n-1].end, seq) {
		return // overlaps the last copy: a resegmented resend, not kept
	}
	r.segs = append(r.segs, sentCopy{seq: seq, end: end, sentAt: now, pkt: p.copyOf(pkt)})
	p.copies++
}

// resent notes a retransmission: the flow becomes guarded, copies it covers
// count as sent now, and a segment sent before the guard began is copied.
// Called with p.mu held.
func (p *rackTLP) resent(f *flow, seq, end uint32, pkt []byte, now time.Time) {
	r := &f.rep
	r.until = now.Add(guardFor)
	i := sort.Search(len(r.segs), func(i int) bool { return seqAfter(r.segs[i].end, seq) })
	overlap := false
	for j := i; j < len(r.segs) && seqAfter(end, r.segs[j].seq); j++ {
		r.segs[j].sentAt = now
		overlap = true
	}
	if overlap || len(r.segs) >= maxFlightCopies || p.copies >= maxCopies {
		return
	}
	r.segs = append(r.segs, sentCopy{})
	copy(r.segs[i+1:], r.segs[i:])
	r.segs[i] = sentCopy{seq: seq, end: end, sentAt: now, pkt: p.copyOf(pkt)}
	p.copies++
}

// acknowledged applies an ACK from the peer to a flow's copies: what it
// covers is dropped, what it SACKs is marked, and RACK looks for segments
// sent before a delivered one that are still missing. Called with p.mu held.
func (p *rackTLP) acknowledged(f *flow, s tcpSegment, now time.Time) {
	r := &f.rep
	if seqAfter(s.ack, r.una) || r.una == 0 {
		r.una = s.ack
	}
	n := 0
	for n < len(r.segs) && !seqAfter(r.segs[n].end, s.ack) {
		if !r.segs[n].sacked {
			r.delivered(&r.segs[n], now)
		}
		p.release(r.segs[n].pkt)
		n++
	}
	if n > 0 {
		r.segs = r.segs[:copy(r.segs, r.segs[n:])]
	}
	sacked := false
	forEachSACK(s.options, func(start, end uint32) {
		sacked = true
		i := sort.Search(len(r.segs), func(i int) bool { return !seqAfter(start, r.segs[i].seq) })
		for ; i < len(r.segs) && !seqAfter(r.segs[i].end, end); i++ {
			if c := &r.segs[i]; !c.sacked {
				c.sacked = true
				r.delivered(c, now)
			}
		}
	})
	if sacked {
		p.detectLoss(f, now)
	}
}

// delivered advances RACK's most recently sent delivered segment.
func (r *flightCopy) delivered(c *sentCopy, now time.Time) {
	if c.sentAt.After(r.rackAt) || (c.sentAt.Equal(r.rackAt) && seqAfter(c.end, r.rackEnd)) {
		r.rackAt, r.rackEnd, r.rackRTT = c.sentAt, c.end, now.Sub(c.sentAt)
	}
}

// detectLoss resends the copy at the receiver's cumulative ACK if it was
// sent before the most recently sent delivered segment and is still missing
// a reordering window (a quarter of the flow's RTT) after that segment's
// round trip; if the window has not passed yet, it sets when to look again.
//
// Only that first hole is repaired: its loss is what the receiver states
// outright. An ACK carries only the few most recent SACK blocks, so a
// segment further up that no block mentions may well have arrived, and
// resending it would be a spurious duplicate. The stack's own SACK recovery
// retransmits the other holes; once the first is filled the next one is at
// the ACK. Measured in BenchmarkDeviceTCPLossy at 5 % loss, this loses
// nothing against repairing every hole (2.7 MB/s and 8 timeouts, against
// 2.5-2.9 and 10-18).
// Called with p.mu held.
func (p *rackTLP) detectLoss(f *flow, now time.Time) {
	r := &f.rep
	r.checkAt = time.Time{}
	if len(r.segs) == 0 {
		return
	}
	c := &r.segs[0]
	if c.sacked || c.repairs >= maxRepairs || seqAfter(c.seq, r.una) {
		return // not the hole the receiver's ACK points at, or given up
	}
	if !(c.sentAt.Before(r.rackAt) || (c.sentAt.Equal(r.rackAt) && !seqAfter(c.end, r.rackEnd))) {
		return // sent after everything known delivered: not overdue yet
	}
	at := c.sentAt.Add(r.rackRTT + f.srtt/4)
	if now.Before(at) {
		r.checkAt = at
		if p.rearmAt.IsZero() || at.Before(p.rearmAt) {
			p.rearmAt = at
		}
		return
	}
	c.sentAt = now
	c.repairs++
	p.outbox = append(p.outbox, append([]byte(nil), c.pkt...))
}

// drop releases all of a flow's copies (it closed or went idle).
func (p *rackTLP) drop(f *flow) {
	for _, c := range f.rep.segs {
		p.release(c.pkt)
	}
	f.rep.segs = nil
}

// copyOf copies pkt into a reused buffer.
func (p *rackTLP) copyOf(pkt []byte) []byte {
	var b []byte
	if n := len(p.spare); n > 0 {
		b, p.spare = p.spare[n-1], p.spare[:n-1]
	}
	if cap(b) < len(pkt) {
		b = make([]byte, 0, max(len(pkt), copyCap))
	}
	return append(b[:0], pkt...)
}

// release returns a copy's buffer for reuse.
func (p *rackTLP) release(b []byte) {
	p.copies--
	if len(p.spare) < maxSpare {
		p.spare = append(p.spare, b)
	}
}

// forEachSACK calls fn for each block of a SACK option (RFC 2018) among a
// TCP header's options; malformed options end the walk.
func forEachSACK(opts []byte, fn func(start, end uint32)) {
	for len(opts) > 0 {
		switch opts[0] {
		case 0: // end of options
			return
		case 1: // no-op
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return
		}
		body := opts[2:opts[1]]
		if opts[0] == 5 {
			for ; len(body) >= 8; body = body[8:] {
				fn(binary.BigEndian.Uint32(body), binary.BigEndian.Uint32(body[4:]))
			}
		}
		opts = opts[opts[1]:]
	}
}
