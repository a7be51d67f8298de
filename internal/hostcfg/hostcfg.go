// Package hostcfg configures the host around a kernel TUN the way wg-quick
// configures it around a WireGuard link: addresses, MTU, link state, DNS,
// routes, and for a default route policy routing, nftables rules and a kill
// switch. Everything it changes is recorded in a State, so that it can be
// undone, also by another process after a crash. It works on Linux; on other
// systems Configure fails with errors.ErrUnsupported.
package hostcfg

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/wgu-project/wgu/tunnel/config"
)

// Params is what Configure needs to set up a kernel TUN the way
// wg-quick sets up a WireGuard link.
type Params struct {
	Interface string         // the TUN link name
	Config    *config.Config // Address, MTU, DNS, Table and the peers' AllowedIPs
	// EndpointAddrs are the peers' resolved endpoints: the MTU is derived
	// from the routes towards them when Config sets none (and lowered
	// later if the path further on needs it: see tunnel's startPathMTU).
	EndpointAddrs []netip.Addr
	// SetFwMark sets the device's fwmark; it is called when a default route
	// needs policy routing and the config set no FwMark.
	SetFwMark func(uint32) error
	// KillSwitch adds, with a default route, the kill switch that keeps
	// the tunnel's traffic from leaving in the clear while the process is
	// dead (see State.KillSwitch). Only for a tunnel whose state is
	// recorded, so that `wgu down` can find and remove it.
	KillSwitch bool
	// Previous is what a dead predecessor (a crashed `wgu up` of the same
	// interface) left on the host. Configure takes over, rather than
	// duplicates, what it would add again (policy rules, kill switch,
	// src_valid_mark, nftables tables, DNS) and removes it from Previous,
	// so that Previous.Undo afterwards removes only what is no longer wanted.
	Previous *State
}

// State records exactly what Configure changed on the host, so that
// Undo can revert it. It is saved as JSON in the tunnel's state file, so that
// `wgu down` can undo it after the tunnel process died: every field is
// exported and plain.
type State struct {
	Link string `json:"link"`
	// LinkIndex tells the link apart from a later one of the same name: when
	// the link is gone, so are its addresses and routes.
	LinkIndex int            `json:"link_index"`
	Addresses []netip.Prefix `json:"addresses,omitempty"`
	// MTUBefore is the link's MTU before Configure set it; 0 if unchanged.
	MTUBefore int `json:"mtu_before,omitempty"`
	// BroughtUp is true when Configure set the link up.
	BroughtUp bool `json:"brought_up,omitempty"`
	// Resolvconf is the interface name registered with `resolvconf -a`.
	Resolvconf string  `json:"resolvconf,omitempty"`
	Routes     []Route `json:"routes,omitempty"`
	Rules      []Rule  `json:"rules,omitempty"`
	// FwMark is the mark (and table) chosen for policy routing, 0 if none.
	FwMark    uint32     `json:"fwmark,omitempty"`
	NftTables []NftTable `json:"nft_tables,omitempty"`
	// SrcValidMarkChanged says net.ipv4.conf.all.src_valid_mark was set to 1;
	// SrcValidMarkOld is the value it had before.
	SrcValidMarkChanged bool   `json:"src_valid_mark_changed,omitempty"`
	SrcValidMarkOld     string `json:"src_valid_mark_old,omitempty"`
	// KillSwitch holds the unreachable default routes put behind the
	// tunnel's default routes in the policy table: when the tunnel's link
	// dies with its process, they are what is left in that table, so
	// traffic that went through the tunnel fails instead of leaving in the
	// clear, until Undo (`wgu down`) removes them with the rules.
	KillSwitch []Route `json:"kill_switch,omitempty"`
	// SendRedirectsChanged says net.ipv4.conf.all.send_redirects was set to
	// 0 (kernel WireGuard does the same); SendRedirectsOld is its old value.
	SendRedirectsChanged bool   `json:"send_redirects_changed,omitempty"`
	SendRedirectsOld     string `json:"send_redirects_old,omitempty"`

	// prev is Params.Previous while Configure runs.
	prev *State
	// settled is the AllowedIPs (default routes aside in Table=auto) that
	// the last Configure or Reconfigure found routed or covered by a route
	// of the link, so that a reload checks only the prefixes that are new
	// since. nil (a State read from a file, or after a change that may
	// have uncovered some: an address or a route removed) means none are
	// known, and everything is checked.
	settled map[netip.Prefix]struct{}
}

// Route is a route Configure added: Dst via the link, in Table.
type Route struct {
	Dst   netip.Prefix `json:"dst"`
	Table int          `json:"table"`
}

// Rule is a policy-routing rule Configure added.
type Rule struct {
	Family   string `json:"family"` // "inet" or "inet6"
	Priority int    `json:"priority"`
	Table    int    `json:"table"`
	// NotFwMark, when non-zero, makes the rule match packets without this mark.
	NotFwMark uint32 `json:"not_fwmark,omitempty"`
	// SuppressPrefixLength, when set, ignores routes of this prefix length
	// or shorter in Table.
	SuppressPrefixLength *int `json:"suppress_prefixlength,omitempty"`
}

// NftTable is an nftables table Configure created.
type NftTable struct {
	Family string `json:"family"` // "ip" or "ip6"
	Name   string `json:"name"`
}

// AllowedPrefixes is every peer's AllowedIPs, masked, without duplicates,
// longest prefix first (wg-quick's `sort -nr -k 2 -t /`), IPv6 before IPv4
// on ties as that sort leaves them.
func AllowedPrefixes(cfg *config.Config) []netip.Prefix {
	var out []netip.Prefix
	for _, peer := range cfg.Peers {
		for _, p := range peer.AllowedIPs {
			out = append(out, p.Masked())
		}
	}
	slices.SortFunc(out, comparePrefixes)
	return slices.Compact(out)
}

// comparePrefixes orders prefixes as AllowedPrefixes lists them.
func comparePrefixes(a, b netip.Prefix) int {
	if c := cmp.Compare(b.Bits(), a.Bits()); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Addr().BitLen(), a.Addr().BitLen()); c != 0 {
		return c
	}
	return a.Addr().Compare(b.Addr())
}
