// Package netstackx is wgu's userspace network: a gVisor TCP/IP stack behind
// a tun.Device, so that wireguard-go runs with no kernel TUN and no
// privileges, plus the services (forwards, proxies, DNS) that let
// applications reach it.
package netstackx

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// nicID is the stack's only NIC: the tunnel.
const nicID tcpip.NICID = 1

// Options configure a Device.
type Options struct {
	// Addresses are the interface's addresses (wg-quick's Address); packets
	// to them are delivered locally, and they answer pings.
	Addresses []netip.Prefix
	// MTU of the tunnel interface.
	MTU int
	// Forwarding routes packets that are not for a local address back into
	// the tunnel (to the peer whose AllowedIPs hold the destination), as a
	// kernel with ip_forward = 1 does: the rootless hub.
	Forwarding bool
	// Logger receives the device's logs; nil discards them.
	Logger *slog.Logger
}

// Device is a tun.Device whose other side is a gVisor network stack.
type Device struct {
	stack  *stack.Stack
	ep     *linkEndpoint
	mtu    atomic.Int64 // SetMTU changes it while packets flow
	log    *slog.Logger
	events chan tun.Event
	hasV4  bool
	hasV6  bool
	addrs  []netip.Prefix
	// eventsMu orders SetMTU's event against Close closing events.
	eventsMu     sync.Mutex
	eventsClosed bool
	// forwarding: the device routes between peers (Options.Forwarding).
	forwarding bool
	// fwd queues the packets the device forwards itself, for Read
	// (hubforward.go); forwarded counts them.
	fwd       *forwardQueue
	stops     forwardStops
	forwarded atomic.Uint64

	// readMu guards cursor, the GSO segment a batch left half cut. Only
	// wireguard-go's TUN reader calls Read, so it is never contended.
	readMu sync.Mutex
	cursor gsoCursor
	// stackFirst alternates which queue a Read drains first, so that
	// neither the stack's packets nor forwarded ones wait behind a steady
	// flow of the other.
	stackFirst bool
	// oversize counts outbound packets (or the rest of a GSO segment) dropped
	// because the reader's buffer was too small for them.
	oversize atomic.Uint64

	// rack gives the stack's own TCP connections RFC 8985's tail-loss
	// probe and RACK loss detection, which gVisor's RACK would give if it
	// could stay on (tailprobe.go, rackrepair.go).
	rack *rackTLP

	closeOnce sync.Once
}

var _ tun.Device = (*Device)(nil)

// ErrClosed is returned by a closed Device.
var ErrClosed = os.ErrClosed

// New builds the stack with the given addresses and a route for everything
// through the tunnel (wireguard-go's allowed IPs decide where it goes).
func New(o Options) (*Device, error) {
	if o.MTU < 576 || o.MTU > 65535 {
		return nil, fmt.Errorf("netstack: MTU %d out of range 576-65535", o.MTU)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		HandleLocal:        true,
	})
	d := &Device{
		stack: s,
		ep:    newLinkEndpoint(uint32(o.MTU), !o.Forwarding),
		log:   log,
		// EventUp, and room for one EventMTUUpdate (which covers any
		// later one: wireguard-go reads MTU when it takes the event).
		events: make(chan tun.Event, 2),

		forwarding: o.Forwarding,
	}
	// A device that does not forward never queues a packet there: an
	// empty ring costs it nothing.
	d.fwd = newForwardQueue(0)
	if o.Forwarding {
		d.fwd = newForwardQueue(forwardQueueLen)
	}
	d.mtu.Store(int64(o.MTU))
	d.rack = newRackTLP(d.ownsSource, d.injectPacket)
	fail := func(format string, args ...any) (*Device, error) {
		d.Close()
		return nil, fmt.Errorf("netstack: "+format, args...)
	}
	if err := tuneTCP(s); err != nil {
		return fail("%w", err)
	}
	if err := s.CreateNICWithOptions(nicID, d.ep, stack.NICOptions{QDisc: queueDiscipline{d.ep}}); err != nil {
		return fail("creating NIC: %v", err)
	}
	for _, p := range o.Addresses {
		proto := tcpip.NetworkProtocolNumber(ipv4.ProtocolNumber)
		if p.Addr().Is6() {
			proto = ipv6.ProtocolNumber
			d.hasV6 = true
		} else {
			d.hasV4 = true
		}
		pa := tcpip.ProtocolAddress{
			Protocol: proto,
			AddressWithPrefix: tcpip.AddressWithPrefix{
				Address:   tcpip.AddrFromSlice(p.Addr().Unmap().AsSlice()),
				PrefixLen: p.Bits(),
			},
		}
		if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			return fail("adding address %s: %v", p, err)
		}
		d.addrs = append(d.addrs, p)
	}
	// Everything leaves through the tunnel; wireguard-go drops what no
	// peer's AllowedIPs cover, as the kernel device does.
	s.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: nicID},
		{Destination: header.IPv6EmptySubnet, NIC: nicID},
	})
	if o.Forwarding {
		for _, proto := range []tcpip.NetworkProtocolNumber{ipv4.ProtocolNumber, ipv6.ProtocolNumber} {
			if err := s.SetForwardingDefaultAndAllNICs(proto, true); err != nil {
				return fail("enabling forwarding: %v", err)
			}
		}
	}
	d.stops = newForwardStops(d.addrs)
	d.events <- tun.EventUp
	return d, nil
}

// congestionControl is NewReno, not CUBIC. CUBIC was first ruled out for a
// bug: the gVisor of that time let an ACK shrink cwnd when W_cubic was below
// it, so repeated losses drove the window to 0 and the connection waited
// forever (issue 18; google/gvisor#6113, fixed by google/gvisor#13958, which
// the gVisor in go.mod has). With that fixed, NewReno still wins where the
// congestion control matters, the netstack sending under loss. Measured on
// the e2e lossy-underlay lab (forward upload, medians of 3 interleaved runs,
// MB/s, ratio to the TUN spoke with kernel cubic in the same run):
//
//	loss   TUN spoke   netstack reno    netstack cubic
//	0 %    14.5        18.7 (1.29x)     22.8 (1.57x)
//	1 %     8.4        15.5 (1.84x)      6.0 (0.71x)
//	5 %     1.38        2.73 (1.98x)     0.52 (0.38x)
//
// Every run at 1 % and 5 % put reno ahead of cubic (1 %: 19.6/15.5/11.5 against
// 9.3/5.9/6.0; 5 %: 2.7/4.9/2.2 against 0.52/1.1/0.45); at 0 % the two are
// within this loaded machine's noise.
const congestionControl = tcpip.CongestionControlOption("reno")

// minRTO is the floor of the retransmission timeout: 50 ms, not gVisor's
// (and Linux's) 200 ms. A tunnel's RTO is mostly SRTT + 4 RTTVAR, which on a
// LAN or metro path is a few milliseconds; the 200 ms floor then makes every
// timeout (a lost retransmission, a lost tail) cost hundreds of round trips.
// 50 ms stays above the 40 ms minimum delayed-ACK timer of Linux receivers,
// so a lone segment's delayed ACK does not look like a loss. Measured in
// TestLossyUnderlay at 5 % loss: forward upload 0.9 -> 2.3 MB/s (the TUN
// spoke, kernel cubic, in the same runs: 1.3 and 0.7).
const minRTO = 50 * time.Millisecond

// lossRecovery turns gVisor's RACK off: losses are found by SACK's
// duplicate-ACK rule (RFC 6675) instead. gVisor's RACK cannot recover from
// the loss of a whole window, which is what a tunnel outage (a hub restart,
// an endpoint change) does: after the retransmission timeout the first ACK,
// for the resent head, lets RACK mark every older segment lost and enter
// fast recovery (handleRcvdSegment, rc.detectLoss), but SetPipe (snd.go)
// counts as in flight every segment the SACK scoreboard does not call lost,
// and with nothing SACKed it calls none lost. The pipe is then the whole
// stale window, far above cwnd, so recovery sends nothing more until the
// next timeout, which again resends one segment: about two segments per
// RTO, minutes for a window of thousands. (Linux leaves lost segments out of
// flight: tcp_packets_in_flight.) Measured in the e2e lab, an upload through
// a forward after a hub restart: with RACK, not back at speed 60 s after the
// new handshake (2 of 2); without, 0.03 and 0.6 s. Upstream: the same family
// as google/gvisor#9153 (the pipe never lets lost, un-SACKed segments leave
// the network); this RACK-after-RTO case has no upstream issue yet.
//
// The costs, measured: reordering, where a segment three places late now
// looks like a loss (BenchmarkDeviceTCPReordered: sack-dupack 27-37 MB/s
// against sack-rack 66-92), and heavy random loss, where a lost
// retransmission waited for the timeout instead of RACK's reorder window
// (e2e lab, forward upload at 5 % loss: 0.73 MB/s without RACK, 3.18 with)
// until the device took over RACK's part for flows that are losing packets
// (rackrepair.go). Turn RACK back on once gVisor's SetPipe leaves RACK-lost
// segments out of the pipe.
//
// gVisor ties its tail-loss probe to RACK, so with RACK off a flight whose
// one ACK is lost waits for the retransmission timeout; the device sends
// that probe itself instead (tailprobe.go). And without RACK a lost
// retransmission, or a loss in a window too small for three duplicate ACKs,
// waits for the timeout too; the device applies RACK's rule to flows that
// are losing packets and resends from copies of its own (rackrepair.go).
const lossRecovery = tcpip.TCPRecovery(0)

// maxRTO caps the retransmission timeout's exponential backoff at 1 s
// (gVisor: 120 s), the smallest cap Linux's tcp_rto_max_ms allows. During an
// outage the timer keeps backing off; without a cap the first resend after
// the tunnel is back can come many seconds later (the TUN spoke, kernel TCP
// with its 120 s cap, took 8.5-16 s after a hub restart's new handshake).
// With it, a resend goes out within a second of the handshake. The cost is
// one segment a second per stalled connection while the path is down, and
// spurious timeouts on a path whose RTT exceeds a second.
const maxRTO = time.Second

// maxRetries is how many times a segment is resent before the connection
// is dropped: with maxRTO's 1 s cap gVisor's 15 would drop a connection
// after about 12 s of outage, less than a hub restart takes. 900 is about
// the 15 minutes of Linux's tcp_retries2; the user timeout that every wgu
// endpoint sets (liveness.go, 60 s) ends a dead connection long before.
const maxRetries = 900

// maxSendBuffer caps gVisor's send-buffer autotuning (2 x cwnd x MSS) at
// 4 MiB, Linux's own tcp_wmem maximum, instead of 16 MiB. The send buffer
// bounds what a connection has in flight, and a tunnel's path never drops
// for being full: wireguard-go's queues take whatever the stack sends, so on
// a fast lossless path cwnd grows until the send buffer stops it, and the
// excess waits in those queues, each packet in a 64 KiB buffer of its own on
// both sides, plus the data itself held in the send queue until acked.
// Measured on the benchmark's wgu-netstack-1 row (1 and 4 streams through
// a forward; 3 interleaved runs each, on a loaded 2-core machine): peak RSS
// of the netstack side 114/145 -> 96/107/107 MiB, throughput medians
// 0.86-1.02 -> 0.92-1.28 Gbit/s, within the noise. The cost: one
// connection's rate is capped at 4 MiB per RTT (about 670 Mbit/s at 50 ms),
// as with a stock Linux sender. The receive side (1 MiB, up to 8 MiB) was
// tried at 4 MiB too: no further gain (A 104/115/103 MiB), so it stays.
const maxSendBuffer = 4 << 20

// tuneTCP sets the stack's TCP options. SACK is off by default in gVisor and
// costs a lot on any loss; buffers are sized for a fast LAN-to-VPS path.
// RACK, gVisor's default, is turned off (lossRecovery).
func tuneTCP(s *stack.Stack) error {
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fmt.Errorf("enabling TCP SACK: %v", err)
	}
	rack := lossRecovery
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &rack); err != nil {
		return fmt.Errorf("setting TCP loss recovery: %v", err)
	}
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: 8 << 20}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv); err != nil {
		return fmt.Errorf("setting TCP receive buffer: %v", err)
	}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4 << 10, Default: 4 << 20, Max: maxSendBuffer}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &snd); err != nil {
		return fmt.Errorf("setting TCP send buffer: %v", err)
	}
	cc := congestionControl
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &cc); err != nil {
		return fmt.Errorf("setting congestion control: %v", err)
	}
	minRTO := tcpip.TCPMinRTOOption(minRTO)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &minRTO); err != nil {
		return fmt.Errorf("setting TCP minimum RTO: %v", err)
	}
	maxRTO := tcpip.TCPMaxRTOOption(maxRTO)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &maxRTO); err != nil {
		return fmt.Errorf("setting TCP maximum RTO: %v", err)
	}
	retries := tcpip.TCPMaxRetriesOption(maxRetries)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &retries); err != nil {
		return fmt.Errorf("setting TCP maximum retransmissions: %v", err)
	}
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate); err != nil {
		return fmt.Errorf("enabling receive buffer moderation: %v", err)
	}
	return nil
}

// Addresses returns the device's addresses.
func (d *Device) Addresses() []netip.Prefix { return append([]netip.Prefix(nil), d.addrs...) }

// Stack exposes the gVisor stack, for callers that need more than this
// package offers.
func (d *Device) Stack() *stack.Stack { return d.stack }

// Dropped counts packets the stack sent that were dropped because the
// device did not read them fast enough.
func (d *Device) Dropped() uint64 { return d.ep.dropped.Load() }

// Counters returns the stack's packet and TCP counters, for diagnosing a
// slow or lossy tunnel.
func (d *Device) Counters() map[string]uint64 {
	st := d.stack.Stats()
	return map[string]uint64{
		"queue_drops":            d.ep.dropped.Load(),
		"ip_packets_received":    st.IP.PacketsReceived.Value(),
		"ip_packets_sent":        st.IP.PacketsSent.Value(),
		"ip_forwarding_errors":   st.IP.Forwarding.Errors.Value(),
		"oversize_drops":         d.oversize.Load(),
		"hub_packets_forwarded":  d.forwarded.Load(),
		"tcp_segments_sent":      st.TCP.SegmentsSent.Value(),
		"tcp_segments_received":  st.TCP.ValidSegmentsReceived.Value(),
		"tcp_retransmits":        st.TCP.Retransmits.Value(),
		"tcp_fast_retransmits":   st.TCP.FastRetransmit.Value(),
		"tcp_timeouts":           st.TCP.Timeouts.Value(),
		"tcp_spurious_recovery":  st.TCP.SpuriousRecovery.Value(),
		"tcp_sack_recovery":      st.TCP.SACKRecovery.Value(),
		"tcp_tlp_recovery":       st.TCP.TLPRecovery.Value(),
		"tcp_tail_probes":        d.rack.probes.Load(),
		"tcp_rack_repairs":       d.rack.repairs.Load(),
		"udp_packets_received":   st.UDP.PacketsReceived.Value(),
		"udp_receive_buf_errors": st.UDP.ReceiveBufferErrors.Value(),
	}
}

// Name is what wireguard-go logs for the interface.
func (d *Device) Name() (string, error) { return "netstack", nil }

// File returns nil: there is no file descriptor behind a netstack.
func (d *Device) File() *os.File { return nil }

// Events reports EventUp once; the channel closes with the device.
func (d *Device) Events() <-chan tun.Event { return d.events }

// MTU is the tunnel MTU.
func (d *Device) MTU() (int, error) { return int(d.mtu.Load()), nil }

// SetMTU changes the tunnel MTU while the device runs (to fit a path MTU
// learned after start): the stack sizes its packets to it from now on (a
// TCP connection takes its MSS from it when it starts), and wireguard-go
// is told with EventMTUUpdate.
func (d *Device) SetMTU(mtu int) error {
	if mtu < 576 || mtu > 65535 {
		return fmt.Errorf("netstack: MTU %d out of range 576-65535", mtu)
	}
	d.eventsMu.Lock()
	defer d.eventsMu.Unlock()
	if d.eventsClosed {
		return ErrClosed
	}
	d.mtu.Store(int64(mtu))
	d.ep.SetMTU(uint32(mtu))
	select {
	case d.events <- tun.EventMTUUpdate:
	default: // an update not yet taken reads the new MTU too
	}
	return nil
}

// BatchSize is how many packets Read and Write move per call.
func (d *Device) BatchSize() int { return 128 }

// cut is d.cursor.cut, counting and logging what does not fit.
func (d *Device) cut(bufs [][]byte, sizes []int, offset, n int) int {
	n, dropped := d.cursor.cut(bufs, sizes, offset, n)
	if dropped > 0 {
		d.dropOversize("rest of a GSO segment", dropped, len(bufs[n])-offset)
	}
	return n
}

// dropOversize counts an outbound packet the reader had no room for; the
// first is a warning (a caller with too small buffers), the rest debug.
func (d *Device) dropOversize(what string, size, room int) {
	level := slog.LevelDebug
	if d.oversize.Add(1) == 1 {
		level = slog.LevelWarn
	}
	d.log.Log(context.Background(), level, "dropping outbound data larger than the read buffer",
		"what", what, "size", size, "buffer", room)
}

// Read fills bufs (at offset) with packets the stack sent, blocking until
// there is at least one; it returns os.ErrClosed once the device is closed.
// TCP's large segments are cut here (see gso.go).
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := d.read(bufs, sizes, offset)
	if n > 0 {
		d.rack.sent(bufs[:n], sizes, offset, d.rack.now())
	}
	return n, err
}

func (d *Device) read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.readMu.Lock()
	defer d.readMu.Unlock()
	n := 0
	if d.cursor.pkt != nil {
		// The rest of a segment cut in the previous batch.
		if n = d.cut(bufs, sizes, offset, n); n == len(bufs) {
			return n, nil
		}
	}
	for {
		d.stackFirst = !d.stackFirst
		if d.stackFirst {
			n = d.readStack(bufs, sizes, offset, n)
			n = d.readForwarded(bufs, sizes, offset, n)
		} else {
			n = d.readForwarded(bufs, sizes, offset, n)
			n = d.readStack(bufs, sizes, offset, n)
		}
		if n > 0 {
			return n, nil
		}
		select {
		case pkt := <-d.ep.outbound:
			n = d.readPacket(bufs, sizes, offset, n, pkt)
		case <-d.fwd.ready:
		case <-d.ep.closed:
			return 0, os.ErrClosed
		}
	}
}

// readStack moves the packets the stack has queued into bufs[n:] and
// returns the new n; it stops early at a GSO segment the batch has no room
// left for.
func (d *Device) readStack(bufs [][]byte, sizes []int, offset, n int) int {
	for n < len(bufs) && d.cursor.pkt == nil {
		select {
		case pkt := <-d.ep.outbound:
			n = d.readPacket(bufs, sizes, offset, n, pkt)
		default:
			return n
		}
	}
	return n
}

// readPacket moves one packet of the stack into bufs[n:], cutting a GSO
// segment, and returns the new n.
func (d *Device) readPacket(bufs [][]byte, sizes []int, offset, n int, pkt *stack.PacketBuffer) int {
	if isGSO(pkt) {
		d.cursor.pkt = pkt
		return d.cut(bufs, sizes, offset, n)
	}
	if size, ok := copyPacket(bufs[n][offset:], pkt); ok {
		sizes[n] = size
		n++
	} else {
		d.dropOversize("packet", pkt.Size(), len(bufs[n])-offset)
	}
	pkt.DecRef()
	return n
}

// readForwarded moves the packets the device forwarded itself into bufs[n:]
// and returns the new n.
func (d *Device) readForwarded(bufs [][]byte, sizes []int, offset, n int) int {
	if n == len(bufs) || d.cursor.pkt != nil {
		return n
	}
	n, oversize, size, room := d.fwd.pop(bufs, sizes, offset, n)
	for range oversize {
		d.dropOversize("forwarded packet", size, room)
	}
	return n
}

// ownsSource reports whether a is one of the device's addresses.
func (d *Device) ownsSource(a netip.Addr) bool {
	for _, p := range d.addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// injectPacket queues an IP packet the device made itself (a tail probe
// or a repair)
// for Read, as if the stack had sent it.
func (d *Device) injectPacket(b []byte) {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	d.ep.enqueue(pkt)
	pkt.DecRef()
}

// copyPacket flattens pkt into dst; false when it does not fit. It walks
// the packet's views in place: AsSlices would allocate for every packet.
func copyPacket(dst []byte, pkt *stack.PacketBuffer) (int, bool) {
	if pkt.Size() > len(dst) {
		return 0, false
	}
	views, skip := pkt.AsViewList()
	n := 0
	for v := views.Front(); v != nil; v = v.Next() {
		b := v.AsSlice()
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		n += copy(dst[n:], b[skip:])
		skip = 0
	}
	return n, true
}

// Write hands packets (each at bufs[i][offset:]) to the stack.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	select {
	case <-d.ep.closed:
		return 0, os.ErrClosed
	default:
	}
	d.rack.received(bufs, offset, d.rack.now())
	if !d.forwarding {
		return d.ep.deliverBatch(bufs, offset, nil)
	}
	for start := 0; start < len(bufs); start += batchMaskLen {
		batch := bufs[start:min(start+batchMaskLen, len(bufs))]
		var taken batchMask
		if d.forwardBatch(batch, offset, &taken) == len(batch) {
			continue
		}
		for i, b := range batch {
			if !taken.has(i) {
				d.expireLastHop(b[offset:])
			}
		}
		if _, err := d.ep.deliverBatch(batch, offset, &taken); err != nil {
			return start, err
		}
	}
	return len(bufs), nil
}

// Close stops the stack and wakes any blocked Read. Safe to call more than
// once and while traffic flows; when it returns, no goroutine of the stack
// is left running.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.rack.stop()
		d.ep.close()
		d.stack.Close()
		d.stack.Wait() // also removes the NIC, detaching the dispatcher
		d.stack.Destroy()
		d.ep.close() // release packets queued during shutdown
		d.readMu.Lock()
		if d.cursor.pkt != nil {
			d.cursor.release()
		}
		d.readMu.Unlock()
		d.eventsMu.Lock()
		d.eventsClosed = true
		close(d.events)
		d.eventsMu.Unlock()
	})
	return nil
}
