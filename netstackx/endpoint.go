package netstackx

import (
	"os"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// outboundQueueLen bounds how many packets the stack may have written that the
// WireGuard device has not read yet. Beyond it packets are dropped, as a full
// TUN queue drops them: TCP backs off, and the stack never blocks on the device.
const outboundQueueLen = 4096

// linkEndpoint is the point where gVisor meets the WireGuard device. Packets
// the stack sends are queued for Device.Read; packets the device writes are
// handed to the stack's dispatcher. There is no link header: the "wire"
// carries bare IP packets, as a TUN does.
type linkEndpoint struct {
	mtu atomic.Uint32

	mu         sync.RWMutex
	dispatcher stack.NetworkDispatcher

	// outbound carries packets from the stack to Device.Read. It is never
	// closed (writers may race with Close); closed tells readers to stop.
	outbound chan *stack.PacketBuffer
	closed   chan struct{}
	once     sync.Once
	dropped  atomic.Uint64

	// join coalesces the TCP packets of one Write batch into fewer, larger
	// segments before the stack sees them (coalesce.go), so TCP processes a
	// batch at the cost of a few segments; withGRO turns it on. Writes come
	// from one goroutine per peer, so it is locked.
	joinMu  sync.Mutex
	join    coalescer
	withGRO bool
}

var _ stack.LinkEndpoint = (*linkEndpoint)(nil)

// newLinkEndpoint makes the endpoint; withGRO coalesces inbound TCP. A
// forwarding stack must not coalesce: it would have to send the merged
// packets on, and they exceed the MTU.
func newLinkEndpoint(mtu uint32, withGRO bool) *linkEndpoint {
	e := &linkEndpoint{
		outbound: make(chan *stack.PacketBuffer, outboundQueueLen),
		closed:   make(chan struct{}),
	}
	e.mtu.Store(mtu)
	e.withGRO = withGRO
	return e
}

// deliverBatch hands the IP packets at bufs[i][offset:] to the stack; other
// packets are dropped, as a TUN drops them. A packet skip marks (the hub
// forwarded it, hubforward.go) is not handed over; skip may be nil. It fails
// with os.ErrClosed once the stack is detached.
func (e *linkEndpoint) deliverBatch(bufs [][]byte, offset int, skip *batchMask) (int, error) {
	e.mu.RLock()
	d := e.dispatcher
	e.mu.RUnlock()
	if d == nil {
		return 0, os.ErrClosed
	}
	e.joinMu.Lock()
	defer e.joinMu.Unlock()
	e.join.to = d
	for i, b := range bufs {
		packet := b[offset:]
		if len(packet) == 0 || skip != nil && skip.has(i) {
			continue
		}
		var proto tcpip.NetworkProtocolNumber
		switch packet[0] >> 4 {
		case 4:
			proto = header.IPv4ProtocolNumber
		case 6:
			proto = header.IPv6ProtocolNumber
		default:
			continue
		}
		if e.withGRO {
			e.join.add(packet, proto)
		} else {
			e.join.deliverRaw(packet, proto)
		}
	}
	e.join.flush()
	e.join.to = nil
	return len(bufs), nil
}

// close wakes every reader; queued packets are released.
func (e *linkEndpoint) close() {
	e.once.Do(func() { close(e.closed) })
	for {
		select {
		case pkt := <-e.outbound:
			pkt.DecRef()
		default:
			return
		}
	}
}

// WritePackets queues the stack's outbound packets for the device.
func (e *linkEndpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := 0
	for _, pkt := range pkts.AsSlice() {
		if err := e.enqueue(pkt); err != nil {
			if _, closed := err.(*tcpip.ErrClosedForSend); closed {
				return n, err
			}
			continue
		}
		n++
	}
	return n, nil
}

// enqueue queues one packet for Device.Read, or drops it when the queue is
// full.
func (e *linkEndpoint) enqueue(pkt *stack.PacketBuffer) tcpip.Error {
	select {
	case <-e.closed:
		return &tcpip.ErrClosedForSend{}
	default:
	}
	select {
	case e.outbound <- pkt.IncRef():
		return nil
	default:
		pkt.DecRef()
		e.dropped.Add(1)
		return &tcpip.ErrNoBufferSpace{}
	}
}

// queueDiscipline is the NIC's queueing discipline: the outbound channel
// itself. gVisor's default one wraps every packet in a list on its way to
// WritePackets, which costs an allocation per packet.
type queueDiscipline struct{ e *linkEndpoint }

func (q queueDiscipline) WritePacket(pkt *stack.PacketBuffer) tcpip.Error { return q.e.enqueue(pkt) }
func (q queueDiscipline) Close()                                          {}

func (e *linkEndpoint) MTU() uint32                      { return e.mtu.Load() }
func (e *linkEndpoint) SetMTU(mtu uint32)                { e.mtu.Store(mtu) }
func (e *linkEndpoint) MaxHeaderLength() uint16          { return 0 }
func (e *linkEndpoint) LinkAddress() tcpip.LinkAddress   { return "" }
func (e *linkEndpoint) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities: received packets skip checksum verification. Every packet
// the device writes was decrypted and authenticated by WireGuard (Poly1305),
// which the kernel's WireGuard also takes as proof of integrity.
func (e *linkEndpoint) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityRXChecksumOffload
}

func (e *linkEndpoint) Attach(d stack.NetworkDispatcher) {
	e.mu.Lock()
	e.dispatcher = d
	e.mu.Unlock()
}

func (e *linkEndpoint) IsAttached() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.dispatcher != nil
}

// SupportedGSO: "host" GSO, the device being the host: TCP hands down
// segments of up to GSOMaxSize with their checksum to do, and Device.Read
// cuts them into packets (gso.go).
func (e *linkEndpoint) SupportedGSO() stack.SupportedGSO { return stack.HostGSOSupported }

// gsoMaxSize is the largest segment TCP may hand down.
const gsoMaxSize = 1 << 16

// GSOMaxSize is the largest segment TCP may hand down.
func (e *linkEndpoint) GSOMaxSize() uint32 { return gsoMaxSize }

func (e *linkEndpoint) Wait()                                   {}
func (e *linkEndpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }
func (e *linkEndpoint) AddHeader(*stack.PacketBuffer)           {}
func (e *linkEndpoint) ParseHeader(*stack.PacketBuffer) bool    { return true }
func (e *linkEndpoint) Close()                                  { e.close() }
func (e *linkEndpoint) SetOnCloseAction(func())                 {}
