package netstackx

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// clearInnerPush clears the PSH flag of a full-sized TCP segment that gVisor
// cut from a larger one (its software GSO copies the big segment's flags,
// PSH included, into every piece). Linux sets PSH only on the last piece,
// and receivers' GRO, wireguard-go's among them, refuses to merge past a
// PSH: with it on every packet, the peer's kernel gets the stream one MTU
// at a time. A full-sized piece is never the end of the data written, so
// dropping its PSH changes nothing for the receiving application.
func clearInnerPush(pkt []byte, mss int) {
	var ipLen int
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < header.IPv4MinimumSize || header.IPv4(pkt).Protocol() != uint8(header.TCPProtocolNumber) {
			return
		}
		ipLen = int(header.IPv4(pkt).HeaderLength())
	case 6:
		if len(pkt) < header.IPv6MinimumSize || header.IPv6(pkt).NextHeader() != uint8(header.TCPProtocolNumber) {
			return
		}
		ipLen = header.IPv6MinimumSize
	default:
		return
	}
	if len(pkt) < ipLen+header.TCPMinimumSize {
		return
	}
	tcp := header.TCP(pkt[ipLen:])
	dataOff := int(tcp.DataOffset())
	if dataOff < header.TCPMinimumSize || len(tcp) < dataOff || len(tcp)-dataOff != mss {
		return
	}
	flags := tcp.Flags()
	if flags&header.TCPFlagPsh == 0 {
		return
	}
	// The flags share a 16-bit word with the data offset; patch the
	// checksum for that word only (RFC 1624).
	const word = 12
	old := binary.BigEndian.Uint16(tcp[word:])
	tcp.SetFlags(uint8(flags &^ header.TCPFlagPsh))
	updated := binary.BigEndian.Uint16(tcp[word:])
	sum := uint32(^tcp.Checksum()) + uint32(^old) + uint32(updated)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	tcp.SetChecksum(^uint16(sum))
}
