// Package udpbind is wgu's conn.Bind: the UDP sockets through which
// wireguard-go sends and receives, in both TUN and netstack mode.
//
// On Linux it batches with recvmmsg/sendmmsg, uses UDP GSO (UDP_SEGMENT) and
// GRO (UDP_GRO), and keeps each peer's source address sticky (IP_PKTINFO), as
// wireguard-go's StdNetBind does, with two differences that matter to a hub:
//
//   - The destination address is built for every send from the endpoint.
//     StdNetBind reuses pooled addresses whose length stays 4 after an IPv4
//     send, so an IPv6 send that follows goes to a wrong address (a peer that
//     roams from IPv4 to IPv6, or a hub with peers of both families, loses
//     packets; wireguard-go PR #135 is the unmerged upstream fix).
//   - Receiving allocates nothing per datagram: addresses are parsed from raw
//     sockaddrs, and the endpoint of a source is made once and reused while it
//     keeps sending (StdNetBind allocates a net.UDPAddr and an endpoint for
//     each datagram).
//   - Cookie replies, what a hub sends most under a flood of handshake
//     initiations, wait up to a millisecond and leave many per sendmmsg
//     (replies_linux.go); wireguard-go sends each in a Send of its own.
//
// Coalesced sends hand the kernel one iovec per packet instead of copying the
// packets into one buffer.
//
// On other systems New returns wireguard-go's default bind.
package udpbind
