package doctor

import (
	"fmt"
	"net/netip"
)

const mtuID = "mtu.path"

// Overheads of a WireGuard packet around the inner packet: outer IP header,
// UDP header, and WireGuard's 32 bytes (type, index, counter, tag).
const (
	overheadV4 = 20 + 8 + 32
	overheadV6 = 40 + 8 + 32
)

// defaultMTU is what wireguard-go and wgu's netstack use when nothing says
// otherwise; wg-quick's automatic MTU is the route's MTU minus 80.
const (
	defaultMTU = 1420
	autoMTUGap = 80
)

func overhead(a netip.Addr) int {
	if a.Unmap().Is4() {
		return overheadV4
	}
	return overheadV6
}

// pathMTUProber measures the path MTU towards an endpoint; tests substitute.
type pathMTUProber func(dst netip.AddrPort, size int) (int, error)

// checkMTU compares each endpoint's path MTU with the interface MTU plus
// WireGuard's overhead: a tunnel packet bigger than the path is dropped
// (or fragmented, if the path allows), and TCP through it stalls.
func checkMTU(t *Target, env *environment, ifMTU int, mtuFrom string, endpoints []reachTarget, probe pathMTUProber) []Result {
	var rs []Result
	for _, e := range endpoints {
		if !e.addr.IsValid() {
			continue
		}
		need := ifMTU + overhead(e.addr.Addr())
		pmtu, err := probe(e.addr, need)
		if err != nil {
			rs = append(rs, warn(mtuID, e.name, fmt.Sprintf("could not measure the path MTU to %s: %v", e.shown, err), ""))
			continue
		}
		if pmtu >= need {
			rs = append(rs, ok(mtuID, e.name, fmt.Sprintf("path MTU to %s is %d: tunnel packets (MTU %d%s + %d = %d) fit", e.shown, pmtu, ifMTU, mtuFrom, overhead(e.addr.Addr()), need)))
			continue
		}
		// The smaller of the v4 and v6 answers is safe for a peer that may
		// roam between families; here we know the family.
		fit := pmtu - overhead(e.addr.Addr())
		rs = append(rs, fail(mtuID, e.name,
			fmt.Sprintf("path MTU to %s is %d, but tunnel packets are up to %d (MTU %d%s + %d): big packets are dropped and TCP stalls",
				e.shown, pmtu, need, ifMTU, mtuFrom, overhead(e.addr.Addr())),
			fmt.Sprintf("MTU = %d in [Interface] (on both sides)", fit)))
	}
	return rs
}
