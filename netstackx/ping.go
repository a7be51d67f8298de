package netstackx

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// pingPayloadSize matches ping(8)'s default: 56 data bytes.
const pingPayloadSize = 56

// Ping sends one ICMP echo request with sequence number seq to dst through
// the tunnel and waits for its reply (until ctx ends). It returns the round
// trip time. The stack's ping sockets pick the ICMP identifier, so several
// pings may run at once.
func (d *Device) Ping(ctx context.Context, dst netip.Addr, seq uint16) (time.Duration, error) {
	dst = dst.Unmap()
	netProto, transProto := tcpip.NetworkProtocolNumber(ipv4.ProtocolNumber), tcpip.TransportProtocolNumber(icmp.ProtocolNumber4)
	echo := make([]byte, header.ICMPv4MinimumSize+pingPayloadSize)
	if dst.Is6() {
		netProto, transProto = ipv6.ProtocolNumber, icmp.ProtocolNumber6
		header.ICMPv6(echo).SetType(header.ICMPv6EchoRequest)
		header.ICMPv6(echo).SetSequence(seq)
	} else {
		header.ICMPv4(echo).SetType(header.ICMPv4Echo)
		header.ICMPv4(echo).SetSequence(seq)
	}
	payload := echo[header.ICMPv4MinimumSize:]
	sent := time.Now()
	binary.BigEndian.PutUint64(payload, uint64(sent.UnixNano()))

	var wq waiter.Queue
	ep, terr := d.stack.NewEndpoint(transProto, netProto, &wq)
	if terr != nil {
		return 0, fmt.Errorf("ping %s: opening ICMP endpoint: %s", dst, terr)
	}
	defer ep.Close()
	if terr := ep.Connect(tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFromSlice(dst.AsSlice())}); terr != nil {
		return 0, fmt.Errorf("ping %s: %s", dst, terr)
	}
	we, readable := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&we)
	defer wq.EventUnregister(&we)

	if _, terr := ep.Write(bytes.NewReader(echo), tcpip.WriteOptions{}); terr != nil {
		return 0, fmt.Errorf("ping %s: sending: %s", dst, terr)
	}
	var reply bytes.Buffer
	for {
		reply.Reset()
		_, terr := ep.Read(&reply, tcpip.ReadOptions{})
		if _, wouldBlock := terr.(*tcpip.ErrWouldBlock); wouldBlock {
			select {
			case <-readable:
				continue
			case <-ctx.Done():
				return 0, fmt.Errorf("ping %s seq %d: %w", dst, seq, ctx.Err())
			}
		}
		if terr != nil {
			return 0, fmt.Errorf("ping %s: receiving: %s", dst, terr)
		}
		// The endpoint only delivers echo replies carrying its identifier;
		// a stray reply to an earlier sequence number is skipped.
		b := reply.Bytes()
		if len(b) >= header.ICMPv4MinimumSize && header.ICMPv4(b).Sequence() == seq {
			return time.Since(sent), nil
		}
	}
}
