package udpbind

import (
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/conn"
)

// Endpoint is a peer's address and, when known, the local address and
// interface its datagrams arrived on, from which replies are sent.
//
// An Endpoint is shared: the receive path hands the same one to every
// datagram from the same source, and the device stores it as the peer's
// endpoint. So everything but the cleared flag is set once at creation.
type Endpoint struct {
	dst   netip.AddrPort // IPv4 unmapped; zone kept for display
	scope uint32         // sin6_scope_id of a link-local IPv6 destination

	src     netip.Addr // local address (sticky source); invalid if unknown
	ifindex int32      // interface the datagrams arrived on
	cleared atomic.Bool
}

var _ conn.Endpoint = (*Endpoint)(nil)

func newEndpoint(dst netip.AddrPort, scope uint32, src netip.Addr, ifindex int32) *Endpoint {
	return &Endpoint{
		dst:     netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port()),
		scope:   scope,
		src:     src,
		ifindex: ifindex,
	}
}

// parseEndpoint reads "ip:port" or "[ip%zone]:port".
func parseEndpoint(s string) (*Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	var scope uint32
	if zone := ap.Addr().Zone(); zone != "" {
		if ifi, err := net.InterfaceByName(zone); err == nil {
			scope = uint32(ifi.Index)
		} else if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
			scope = uint32(n)
		} else {
			return nil, &net.AddrError{Err: "unknown zone", Addr: s}
		}
	}
	return newEndpoint(ap, scope, netip.Addr{}, 0), nil
}

// ClearSrc forgets the sticky source, so the kernel picks one again (the
// device calls it when handshakes go unanswered, e.g. after an address
// change). Later datagrams from the peer make a fresh endpoint with the new
// source.
func (e *Endpoint) ClearSrc() { e.cleared.Store(true) }

// SrcIP is the local address replies are sent from, if sticky.
func (e *Endpoint) SrcIP() netip.Addr {
	if e.cleared.Load() {
		return netip.Addr{}
	}
	return e.src
}

// sticky reports the source address and interface to send from.
func (e *Endpoint) sticky() (netip.Addr, int32, bool) {
	if !e.src.IsValid() || e.cleared.Load() {
		return netip.Addr{}, 0, false
	}
	return e.src, e.ifindex, true
}

// SrcToString is the sticky source address, or "" when there is none.
func (e *Endpoint) SrcToString() string {
	if a := e.SrcIP(); a.IsValid() {
		return a.String()
	}
	return ""
}

// DstIP is the peer's address.
func (e *Endpoint) DstIP() netip.Addr { return e.dst.Addr() }

// DstToString is the peer's address and port.
func (e *Endpoint) DstToString() string { return e.dst.String() }

// DstToBytes is the peer's address and port in binary, the input of the
// cookie MAC (only used under load).
func (e *Endpoint) DstToBytes() []byte {
	b, _ := e.dst.MarshalBinary()
	return b
}

// endpointKey identifies the endpoint of a received datagram: who sent it,
// and where it arrived.
type endpointKey struct {
	src     netip.AddrPort // unzoned
	scope   uint32
	local   netip.Addr
	ifindex int32
}

// maxCachedEndpoints bounds the receive cache; a flood from many sources
// just empties it now and then.
const maxCachedEndpoints = 4096

// endpointCache gives the receive path one endpoint per source. It belongs
// to one receive function, which wireguard-go calls from one goroutine, so it
// needs no lock.
type endpointCache map[endpointKey]*Endpoint

func (c endpointCache) get(k endpointKey) *Endpoint {
	if ep := c[k]; ep != nil && !ep.cleared.Load() {
		return ep
	}
	if len(c) >= maxCachedEndpoints {
		clear(c)
	}
	dst := k.src
	if k.scope != 0 {
		// Link-local source: keep the zone for display, as net.UDPAddr does.
		dst = netip.AddrPortFrom(dst.Addr().WithZone(strconv.FormatUint(uint64(k.scope), 10)), dst.Port())
	}
	ep := newEndpoint(dst, k.scope, k.local, k.ifindex)
	c[k] = ep
	return ep
}
