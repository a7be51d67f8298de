package peerbook

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrNoFreeAddress is returned when the hub's subnet has no address left.
var ErrNoFreeAddress = errors.New("no free address in the hub's subnet")

// maxAddressScan bounds the search in a large (IPv6) subnet.
const maxAddressScan = 1 << 16

// nextFreeAddresses picks, for each address family of the hub's Address
// lines (the first prefix of each), the lowest host address of that subnet
// that is neither the hub's own nor inside any peer's AllowedIPs (enabled or
// disabled: a disabled peer keeps its address for when it comes back).
// Peer prefixes as large as the subnet or larger (a site behind a peer, a
// default route) do not count as taken addresses.
func nextFreeAddresses(hub []netip.Prefix, taken []netip.Prefix) ([]netip.Prefix, error) {
	var out []netip.Prefix
	done := map[bool]bool{} // by Is4
	for _, h := range hub {
		if done[h.Addr().Is4()] {
			continue
		}
		done[h.Addr().Is4()] = true
		subnet := h.Masked()
		if subnet.IsSingleIP() {
			return nil, fmt.Errorf("hub address %s has no subnet to pick a peer address from: give the address (--ip)", h)
		}
		a, err := firstFree(subnet, h.Addr(), taken)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(out) == 0 {
		return nil, errors.New("the hub's [Interface] has no Address to pick a peer address from: give the address (--ip)")
	}
	return out, nil
}

// firstFree scans subnet from its first host address.
func firstFree(subnet netip.Prefix, hub netip.Addr, taken []netip.Prefix) (netip.Addr, error) {
	a := subnet.Addr().Next() // skip the network address
	for n := 0; n < maxAddressScan && a.IsValid() && subnet.Contains(a); n, a = n+1, a.Next() {
		if a.Is4() && !subnet.Contains(a.Next()) {
			break // IPv4 broadcast
		}
		if a == hub || addressTaken(a, subnet, taken) {
			continue
		}
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("%s: %w", subnet, ErrNoFreeAddress)
}

// addressTaken reports whether a falls in a peer prefix smaller than subnet.
func addressTaken(a netip.Addr, subnet netip.Prefix, taken []netip.Prefix) bool {
	for _, p := range taken {
		if p.Bits() > subnet.Bits() && p.Contains(a) {
			return true
		}
	}
	return false
}

// checkAddressFree refuses an address given by hand that the hub or another
// peer already has.
func checkAddressFree(want []netip.Prefix, hub []netip.Prefix, blocks []peerBlock) error {
	for _, w := range want {
		for _, h := range hub {
			if h.Addr() == w.Addr() {
				return fmt.Errorf("address %s is the hub's own", w.Addr())
			}
		}
		for _, b := range blocks {
			for _, p := range b.allowedIPs {
				if p.Overlaps(w) && p.Bits() >= w.Bits() {
					return fmt.Errorf("address %s is taken by peer %s", w, b.label())
				}
			}
		}
	}
	return nil
}

// label names a block in messages: its name, else its key.
func (b peerBlock) label() string {
	if b.name != "" {
		return b.name
	}
	return b.publicKey.String()
}
