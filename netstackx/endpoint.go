package netstackx

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// outboundQueueLen bounds how many packets the stack may have written that the
// WireGuard device has not read yet. Beyond it packets are dropped, as a full
// TUN queue drops them: TCP backs off, and the stack never blocks on the device.
const outboundQueueLen = 2048

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
}

var _ stack.LinkEndpoint = (*linkEndpoint)(nil)

func newLinkEndpoint(mtu uint32) *linkEndpoint {
	e := &linkEndpoint{
		outbound: make(chan *stack.PacketBuffer, outboundQueueLen),
		closed:   make(chan struct{}),
	}
	e.mtu.Store(mtu)
	return e
}

// deliver hands one inbound IP packet to the stack; false when no stack is
// attached (the device is closing) or the packet is not IP.
func (e *linkEndpoint) deliver(pkt *stack.PacketBuffer, version byte) bool {
	var proto tcpip.NetworkProtocolNumber
	switch version {
	case 4:
		proto = header.IPv4ProtocolNumber
	case 6:
		proto = header.IPv6ProtocolNumber
	default:
		return false
	}
	e.mu.RLock()
	d := e.dispatcher
	e.mu.RUnlock()
	if d == nil {
		return false
	}
	d.DeliverNetworkPacket(proto, pkt)
	return true
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
		select {
		case <-e.closed:
			return n, &tcpip.ErrClosedForSend{}
		default:
		}
		select {
		case e.outbound <- pkt.IncRef():
			n++
		default:
			pkt.DecRef()
			e.dropped.Add(1)
		}
	}
	return n, nil
}

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

func (e *linkEndpoint) Wait()                                   {}
func (e *linkEndpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }
func (e *linkEndpoint) AddHeader(*stack.PacketBuffer)           {}
func (e *linkEndpoint) ParseHeader(*stack.PacketBuffer) bool    { return true }
func (e *linkEndpoint) Close()                                  { e.close() }
func (e *linkEndpoint) SetOnCloseAction(func())                 {}
