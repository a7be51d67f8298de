package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// SplitList splits a comma-separated list, trimming blanks and dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// ParsePrefixes parses "a/b, c/d".
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range SplitList(s) {
		p, err := ParsePrefix(v)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParsePrefixList parses a comma-separated list of CIDRs (a bare address is
// a single-address prefix), as the CLI's --allowed-ips and --ip take them.
func ParsePrefixList(s string) ([]netip.Prefix, error) {
	out, err := ParsePrefixes(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q: expected CIDR[,CIDR]", s)
	}
	return out, nil
}
