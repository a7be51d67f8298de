package doctor

import (
	"fmt"
	"net/netip"
	"sync"
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
// (or fragmented, if the path allows), and TCP through it stalls. mtuDesc
// says where ifMTU comes from; fitsAtUp is true for a config that is not up
// and sets no MTU, which `wgu up` fits to the probed path itself.
func checkMTU(ifMTU int, mtuDesc string, fitsAtUp bool, endpoints []reachTarget, probe pathMTUProber) []Result {
	// Each probe waits for an ICMP answer that a good path never sends:
	// probe all endpoints at once.
	type answer struct {
		pmtu int
		err  error
	}
	answers := make([]answer, len(endpoints))
	var wg sync.WaitGroup
	for i, e := range endpoints {
		if !e.addr.IsValid() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].pmtu, answers[i].err = probe(e.addr, ifMTU+overhead(e.addr.Addr()))
		}()
	}
	wg.Wait()
	var rs []Result
	for i, e := range endpoints {
		if !e.addr.IsValid() {
			continue
		}
		oh := overhead(e.addr.Addr())
		need := ifMTU + oh
		pmtu, err := answers[i].pmtu, answers[i].err
		if err != nil {
			rs = append(rs, warn(mtuID, e.name, fmt.Sprintf("could not measure the path MTU to %s: %v", e.shown, err), ""))
			continue
		}
		if pmtu >= need {
			rs = append(rs, ok(mtuID, e.name, fmt.Sprintf("path MTU to %s is %d: tunnel packets of up to %d bytes (%s, + %d) fit", e.shown, pmtu, need, mtuDesc, oh)))
			continue
		}
		fit := pmtu - oh
		if fitsAtUp {
			rs = append(rs, ok(mtuID, e.name, fmt.Sprintf("path MTU to %s is %d, below the %d bytes of %s (+ %d): `wgu up` will set MTU %d to fit (with wg-quick, set MTU = %d)",
				e.shown, pmtu, need, mtuDesc, oh, fit, fit)))
			continue
		}
		rs = append(rs, fail(mtuID, e.name,
			fmt.Sprintf("path MTU to %s is %d, but tunnel packets are up to %d bytes (%s, + %d): big tunnel packets are dropped or fragmented, and TCP through the tunnel can stall",
				e.shown, pmtu, need, mtuDesc, oh),
			fmt.Sprintf("MTU = %d in [Interface] (on both sides)", fit)))
	}
	return rs
}
