package netstackx

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// rackTLP gives the stack's own TCP connections what RFC 8985 (RACK-TLP)
// gives a sender, and gVisor gives only with its RACK, which wgu turns off
// (lossRecovery): the tail-loss probe, here, and RACK's time-based loss
// detection for flows that are losing packets (rackrepair.go). Both work at
// the device, on the packets the stack sends and the ACKs it receives; one
// table of flows serves both.
//
// A sender that is limited by its congestion window sends a flight, then
// waits for the ACK that lets it send the next. Receivers ACK a flight that
// arrives in one batch with one ACK: gVisor acknowledges after a batch of
// segments, and a Linux receiver behind a TUN or NIC with GRO sees the batch
// as one packet. When that single ACK is lost, nothing is left to clock the
// sender, and gVisor without RACK waits for the retransmission timeout
// (at least minRTO, typically much more once the timeout has backed off),
// then collapses its window to one segment, although the receiver has every
// byte. At 1 % loss that is most of the time lost: in the in-process lossy
// path of BenchmarkDeviceTCPLossy the sender stalled about every 150 ms, for
// 50 ms or more each time.
//
// The probe does what a TCP tail-loss probe (RFC 8985, section 7) does, at
// the device: when a connection has more than one segment in flight and
// nothing has come back from its peer for the probe timeout, the last data
// segment is sent again, once. The receiver answers the duplicate at once
// with an ACK for everything it has, which clocks the sender on with its
// window intact; if the tail itself was lost, the probe repairs it. The
// segment is resent byte for byte, so TCP sees an ordinary duplicate.
//
// Only connections of the stack itself are probed or repaired (the source
// is one of the device's addresses); packets the rootless hub forwards
// between peers belong to senders that have their own recovery.
type rackTLP struct {
	// own reports whether a source address belongs to the device.
	own func(netip.Addr) bool
	// inject queues a packet for Device.Read.
	inject func([]byte)
	// now is the clock (a test's own in tests).
	now func() time.Time
	// probes counts the tail probes sent, repairs the segments resent
	// because RACK found them lost (rackrepair.go).
	probes, repairs atomic.Uint64

	mu      sync.Mutex
	flows   map[flowKey]*flow
	timer   *time.Timer
	armed   bool
	stopped bool
	// touched is scratch for sent: the flows a batch carried data for.
	touched []*flow
	// copies counts the segments kept for repair, spare holds buffers for
	// reuse, and outbox the repairs to inject once p.mu is released.
	copies int
	spare  [][]byte
	outbox [][]byte
	// rearmAt: an ACK set a flow's checkAt, the timer must run by then.
	rearmAt time.Time
	// armedFor is when the armed timer fires.
	armedFor time.Time
}

// flowKey names a connection from the device's side.
type flowKey struct{ local, remote netip.AddrPort }

// flow is what the probe knows of one connection's sending side.
type flow struct {
	// last is the last data segment sent, as it left the device, and
	// lastLen its TCP payload length.
	last    []byte
	lastLen int
	// end is the sequence number after the last data sent, acked the
	// highest cumulative ACK seen from the peer.
	end, acked uint32
	// sentAt is when data was last sent, heardAt when the peer was last
	// heard from; the probe timeout runs from the later of the two.
	sentAt, heardAt time.Time
	// probed: the tail was resent and nothing has moved since.
	probed bool
	// srtt is a smoothed round-trip time, measured as a TCP sender does:
	// from sending rttEnd (0: no sample running) until an ACK covers it.
	srtt     time.Duration
	rttEnd   uint32
	rttStart time.Time
	// pending: last must be refreshed from the batch being sent.
	pending    []byte
	pendingLen int
	// rep is the flight's copies while the flow is losing packets.
	rep flightCopy
}

const (
	// minProbeTimeout is Linux's floor for the probe timeout (2 SRTT).
	minProbeTimeout = 2 * time.Millisecond
	// defaultProbeTimeout applies before the first RTT sample.
	defaultProbeTimeout = 200 * time.Millisecond
	// maxProbeFlows bounds the table; beyond it new connections are not
	// probed (they fall back to the retransmission timeout).
	maxProbeFlows = 1024
	// flowIdle is how long a connection with nothing in flight stays in the
	// table.
	flowIdle = 30 * time.Second
)

func newRackTLP(own func(netip.Addr) bool, inject func([]byte)) *rackTLP {
	p := &rackTLP{own: own, inject: inject, now: time.Now, flows: make(map[flowKey]*flow)}
	p.timer = time.AfterFunc(time.Hour, p.expire)
	p.timer.Stop()
	return p
}

// stop ends the probe: no timer runs and no packet is injected after it.
func (p *rackTLP) stop() {
	p.mu.Lock()
	p.stopped = true
	p.timer.Stop()
	p.mu.Unlock()
}

// tcpSegment is what the probe reads from an IP packet carrying TCP.
type tcpSegment struct {
	src, dst      netip.AddrPort
	seq, ack      uint32
	hasACK        bool
	payload       int
	finOrRST, syn bool
	// options is the TCP header's options (a slice of the packet).
	options []byte
}

// parseTCP reads pkt's IP and TCP headers; false if pkt is not a whole,
// unfragmented TCP segment.
func parseTCP(pkt []byte) (tcpSegment, bool) {
	var s tcpSegment
	var l4 []byte
	var src, dst netip.Addr
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4:
		ihl := int(pkt[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(pkt[2:4]))
		if pkt[9] != 6 || ihl < 20 || total > len(pkt) || total < ihl ||
			binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 { // fragment
			return s, false
		}
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		l4 = pkt[ihl:total]
	case len(pkt) >= 40 && pkt[0]>>4 == 6:
		total := 40 + int(binary.BigEndian.Uint16(pkt[4:6]))
		if pkt[6] != 6 || total > len(pkt) { // extension headers: not probed
			return s, false
		}
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
		l4 = pkt[40:total]
	default:
		return s, false
	}
	if len(l4) < 20 {
		return s, false
	}
	off := int(l4[12]>>4) * 4
	if off < 20 || off > len(l4) {
		return s, false
	}
	flags := l4[13]
	s.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2]))
	s.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4]))
	s.seq = binary.BigEndian.Uint32(l4[4:8])
	s.ack = binary.BigEndian.Uint32(l4[8:12])
	s.hasACK = flags&0x10 != 0
	s.finOrRST = flags&0x05 != 0
	s.syn = flags&0x02 != 0
	s.payload = len(l4) - off
	s.options = l4[20:off]
	return s, true
}

// seqAfter reports a > b in sequence space.
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// sent notes the packets of a batch Device.Read hands to WireGuard.
func (p *rackTLP) sent(bufs [][]byte, sizes []int, offset int, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	var lastKey flowKey
	var lastFlow *flow
	for i, b := range bufs {
		pkt := b[offset : offset+sizes[i]]
		s, ok := parseTCP(pkt)
		if !ok || !p.own(s.src.Addr()) {
			continue
		}
		key := flowKey{s.src, s.dst}
		// A batch is mostly one connection's: skip the map for repeats.
		var f *flow
		if key == lastKey && lastFlow != nil {
			f = lastFlow
		} else {
			f = p.flows[key]
		}
		switch {
		case s.finOrRST:
			// Closing: the probe stays out of the teardown.
			if f != nil {
				p.drop(f)
				delete(p.flows, key)
			}
			lastFlow = nil
			continue
		case s.syn:
			// Opening: the handshake gives the first RTT sample, so the
			// first flight is probed at its connection's pace.
			if f == nil && p.room(now) {
				p.flows[key] = &flow{acked: s.seq, end: s.seq + 1, rttEnd: s.seq + 1, rttStart: now, sentAt: now}
			}
			continue
		case s.payload == 0:
			continue
		case f == nil:
			if !p.room(now) {
				continue
			}
			f = &flow{acked: s.seq, end: s.seq}
			p.flows[key] = f
		}
		end := s.seq + uint32(s.payload)
		if !seqAfter(end, f.end) {
			// A retransmission (or our own probe), not new data; an ACK
			// now may answer either sending, so no RTT sample (Karn).
			f.rttEnd = 0
			p.resent(f, s.seq, end, pkt, now)
			continue
		}
		p.keep(f, s.seq, end, pkt, now)
		f.end, f.sentAt, f.probed = end, now, false
		if f.rttEnd == 0 {
			f.rttEnd, f.rttStart = end, now
		}
		if f.pending == nil {
			p.touched = append(p.touched, f)
		}
		f.pending, f.pendingLen = pkt, s.payload
		lastKey, lastFlow = key, f
	}
	// Copy only each flow's last segment of the batch: bufs belong to
	// wireguard-go once Read returns.
	for _, f := range p.touched {
		f.last = append(f.last[:0], f.pending...)
		f.lastLen = f.pendingLen
		f.pending = nil
	}
	if len(p.touched) > 0 {
		p.touched = p.touched[:0]
		p.arm(now)
	}
}

// room reports whether the table can take another flow, first forgetting
// the idle ones if it is full. Called with p.mu held.
func (p *rackTLP) room(now time.Time) bool {
	if len(p.flows) < maxProbeFlows {
		return true
	}
	for key, f := range p.flows {
		if f.idle(now) {
			p.drop(f)
			delete(p.flows, key)
		}
	}
	return len(p.flows) < maxProbeFlows
}

// idle: nothing in flight and no traffic either way for flowIdle.
func (f *flow) idle(now time.Time) bool {
	return !seqAfter(f.end, f.acked) && now.Sub(f.sentAt) > flowIdle && now.Sub(f.heardAt) > flowIdle
}

// received notes the packets WireGuard hands to the stack: ACKs move the
// probed flows on.
func (p *rackTLP) received(bufs [][]byte, offset int, now time.Time) {
	p.mu.Lock()
	if len(p.flows) == 0 {
		p.mu.Unlock()
		return
	}
	p.receivedLocked(bufs, offset, now)
	if !p.rearmAt.IsZero() {
		p.armBy(p.rearmAt, now)
		p.rearmAt = time.Time{}
	}
	repairs := p.takeOutbox()
	p.mu.Unlock()
	p.send(repairs)
}

func (p *rackTLP) receivedLocked(bufs [][]byte, offset int, now time.Time) {
	var lastKey flowKey
	var lastFlow *flow
	for _, b := range bufs {
		s, ok := parseTCP(b[offset:])
		if !ok {
			continue
		}
		key := flowKey{s.dst, s.src}
		f := lastFlow
		if key != lastKey || f == nil {
			f = p.flows[key]
		}
		if f == nil {
			continue
		}
		lastKey, lastFlow = key, f
		f.heardAt = now
		if s.hasACK && len(f.rep.segs) > 0 {
			p.acknowledged(f, s, now)
		}
		if !s.hasACK || !seqAfter(s.ack, f.acked) {
			continue
		}
		f.acked, f.probed = s.ack, false
		if f.rttEnd != 0 && !seqAfter(f.rttEnd, s.ack) {
			sample := now.Sub(f.rttStart)
			if f.srtt == 0 {
				f.srtt = sample
			} else {
				f.srtt += (sample - f.srtt) / 8
			}
			f.rttEnd = 0
		}
	}
}

// timeout is the flow's probe timeout: twice its smoothed RTT, as RFC 8985
// and Linux have it, with Linux's floor.
func (f *flow) timeout() time.Duration {
	if f.srtt == 0 {
		return defaultProbeTimeout
	}
	return max(2*f.srtt, minProbeTimeout)
}

// due reports when f should be probed, and whether it should be at all:
// more than its last segment is unacknowledged (a lone segment's ACK may be
// delayed on purpose by the receiver), and it has not been probed since.
func (f *flow) due() (time.Time, bool) {
	inFlight := f.end - f.acked
	if f.probed || !seqAfter(f.end, f.acked) || inFlight <= uint32(f.lastLen) || len(f.last) == 0 {
		return time.Time{}, false
	}
	from := f.sentAt
	if f.heardAt.After(from) {
		from = f.heardAt
	}
	return from.Add(f.timeout()), true
}

// arm schedules the timer for the earliest due probe, unless it is already
// set (then it fires, finds what is due and arms again; a probe of one flow
// may come late by another flow's timeout). Called with p.mu held.
func (p *rackTLP) arm(now time.Time) {
	if p.armed {
		return
	}
	var next time.Time
	for _, f := range p.flows {
		if at, ok := f.due(); ok && (next.IsZero() || at.Before(next)) {
			next = at
		}
		if at := f.rep.checkAt; !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	if next.IsZero() {
		return
	}
	p.armBy(next, now)
}

// armBy makes the timer fire by at. Called with p.mu held.
func (p *rackTLP) armBy(at, now time.Time) {
	if p.armed && !at.Before(p.armedFor) {
		return
	}
	p.armed, p.armedFor = true, at
	p.timer.Reset(max(at.Sub(now), time.Millisecond))
}

// expire sends the probes that are due and forgets idle flows.
func (p *rackTLP) expire() {
	now := p.now()
	var probes [][]byte
	p.mu.Lock()
	p.armed = false
	if p.stopped {
		p.mu.Unlock()
		return
	}
	for key, f := range p.flows {
		if at := f.rep.checkAt; !at.IsZero() && !now.Before(at) {
			p.detectLoss(f, now)
		}
		at, ok := f.due()
		switch {
		case ok && !now.Before(at):
			probes = append(probes, append([]byte(nil), f.last...))
			f.probed = true
			f.rttEnd = 0 // Karn: no sample across a resend
		case !ok && f.idle(now):
			p.drop(f)
			delete(p.flows, key)
		}
	}
	p.rearmAt = time.Time{}
	p.arm(now)
	repairs := p.takeOutbox()
	p.mu.Unlock()
	for _, b := range probes {
		p.probes.Add(1)
		p.inject(b)
	}
	p.send(repairs)
}

// takeOutbox hands over the repairs queued under p.mu.
func (p *rackTLP) takeOutbox() [][]byte {
	if len(p.outbox) == 0 {
		return nil
	}
	out := p.outbox
	p.outbox = nil
	return out
}

// send injects repairs once p.mu is released, as expire does its probes.
func (p *rackTLP) send(repairs [][]byte) {
	for _, b := range repairs {
		p.repairs.Add(1)
		p.inject(b)
	}
}
