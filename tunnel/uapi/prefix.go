package uapi

import "net/netip"

// parsePrefix parses an allowed_ip value as netip.ParsePrefix does. The
// common case, an IPv4 prefix in canonical form, is decoded from the bytes;
// anything else (IPv6, or text the fast path rejects, so that errors and
// edge cases stay netip's) goes through netip with a string.
func parsePrefix(b []byte) (netip.Prefix, error) {
	if pfx, ok := parseIPv4Prefix(b); ok {
		return pfx, nil
	}
	return netip.ParsePrefix(string(b))
}

// parseIPv4Prefix accepts exactly "a.b.c.d/n": four decimal octets of at
// most 255 without leading zeros and n in 0..32 without leading zeros,
// which is a subset of what netip.ParsePrefix accepts, with the same
// result.
func parseIPv4Prefix(b []byte) (netip.Prefix, bool) {
	var ip [4]byte
	i := 0
	for octet := 0; octet < 4; octet++ {
		v, n, ok := decimal(b[i:], 255)
		if !ok {
			return netip.Prefix{}, false
		}
		ip[octet] = byte(v)
		i += n
		want := byte('.')
		if octet == 3 {
			want = '/'
		}
		if i >= len(b) || b[i] != want {
			return netip.Prefix{}, false
		}
		i++
	}
	bits, n, ok := decimal(b[i:], 32)
	if !ok || i+n != len(b) {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(netip.AddrFrom4(ip), bits), true
}

// decimal reads the unsigned decimal number at the start of b, of at most
// three digits, no leading zero and no more than limit; n is its length.
func decimal(b []byte, limit int) (v, n int, ok bool) {
	for n < len(b) && n < 3 && '0' <= b[n] && b[n] <= '9' {
		v = v*10 + int(b[n]-'0')
		n++
	}
	if n == 0 || (n > 1 && b[0] == '0') || v > limit {
		return 0, 0, false
	}
	return v, n, true
}
