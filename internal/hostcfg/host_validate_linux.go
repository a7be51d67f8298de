package hostcfg

import (
	"fmt"
	"math"
	"regexp"

	"github.com/wgu-project/wgu/tunnel/config"
	"golang.org/x/sys/unix"
)

// nftTablePattern is every name nftTableName can produce.
var nftTablePattern = regexp.MustCompile(`^wgu-[a-zA-Z0-9_.-]{1,15}$`)

// resolvconfPattern bounds the names setDNS registers ("[PREFIX.]LINK",
// checked with hasSuffixName); no leading '-', which resolvconf would read
// as an option.
var resolvconfPattern = regexp.MustCompile(`^[a-zA-Z0-9_=+.][a-zA-Z0-9_=+.-]{0,63}$`)

// srcValidMarkValue is what the sysctl can have held.
var srcValidMarkValue = regexp.MustCompile(`^[0-9]$`)

// Validate checks a State read from a state file: only values
// Configure records, for interface name, are accepted.
func (s *State) Validate(name string) error {
	if !config.IsInterfaceName(s.Link) || s.Link != name {
		return fmt.Errorf("host.link %q: expected the interface name %q", s.Link, name)
	}
	if s.LinkIndex <= 0 {
		return fmt.Errorf("host.link_index %d: expected a positive index", s.LinkIndex)
	}
	for _, a := range s.Addresses {
		if !a.IsValid() {
			return fmt.Errorf("host.addresses: invalid prefix %v", a)
		}
	}
	if s.MTUBefore != 0 && (s.MTUBefore < 68 || s.MTUBefore > math.MaxUint16) {
		return fmt.Errorf("host.mtu_before %d: expected 68 to 65535", s.MTUBefore)
	}
	if s.Resolvconf != "" && (!resolvconfPattern.MatchString(s.Resolvconf) || !hasSuffixName(s.Resolvconf, s.Link)) {
		return fmt.Errorf("host.resolvconf %q: expected [PREFIX.]%s", s.Resolvconf, s.Link)
	}
	for _, r := range s.Routes {
		if !r.Dst.IsValid() || r.Table < 0 || int64(r.Table) > math.MaxUint32 {
			return fmt.Errorf("host.routes: invalid route %v table %d", r.Dst, r.Table)
		}
	}
	for _, r := range s.Rules {
		if err := s.validateRule(r); err != nil {
			return err
		}
	}
	for _, t := range s.NftTables {
		if (t.Family != "ip" && t.Family != "ip6") || !nftTablePattern.MatchString(t.Name) || t.Name != nftTableName(s.Link) {
			return fmt.Errorf("host.nft_tables: table %q %q: expected family ip or ip6 and name %q", t.Family, t.Name, nftTableName(s.Link))
		}
	}
	if s.SrcValidMarkChanged && !srcValidMarkValue.MatchString(s.SrcValidMarkOld) {
		return fmt.Errorf("host.src_valid_mark_old %q: expected a digit", s.SrcValidMarkOld)
	}
	if s.SrcValidMarkOld != "" && !s.SrcValidMarkChanged {
		return fmt.Errorf("host.src_valid_mark_old %q without src_valid_mark_changed", s.SrcValidMarkOld)
	}
	// The kill switch is only ever the unreachable default routes of the
	// policy table.
	for _, r := range s.KillSwitch {
		if !r.Dst.IsValid() || r.Dst.Bits() != 0 || s.FwMark == 0 || r.Table != int(s.FwMark) {
			return fmt.Errorf("host.kill_switch: route %v table %d: expected a default route in table %d", r.Dst, r.Table, s.FwMark)
		}
	}
	if s.SendRedirectsChanged && !srcValidMarkValue.MatchString(s.SendRedirectsOld) {
		return fmt.Errorf("host.send_redirects_old %q: expected a digit", s.SendRedirectsOld)
	}
	if s.SendRedirectsOld != "" && !s.SendRedirectsChanged {
		return fmt.Errorf("host.send_redirects_old %q without send_redirects_changed", s.SendRedirectsOld)
	}
	return nil
}

// validateRule accepts the two rules addPolicyRouting adds: "not fwmark M
// table M" and "table main suppress_prefixlength 0". Anything else (say,
// the main table's own lookup rule) is not wgu's to delete.
func (s *State) validateRule(r Rule) error {
	if (r.Family != "inet" && r.Family != "inet6") || r.Priority < 0 || int64(r.Priority) > math.MaxUint32 {
		return fmt.Errorf("host.rules: invalid rule %q", r.String())
	}
	marked := s.FwMark != 0 && r.Table == int(s.FwMark) && r.NotFwMark == s.FwMark && r.SuppressPrefixLength == nil
	suppress := r.Table == unix.RT_TABLE_MAIN && r.NotFwMark == 0 && r.SuppressPrefixLength != nil && *r.SuppressPrefixLength == 0
	if !marked && !suppress {
		return fmt.Errorf("host.rules: rule %q is not one wgu adds (fwmark %d)", r.String(), s.FwMark)
	}
	return nil
}

// hasSuffixName reports whether name is link or ends in ".link".
func hasSuffixName(name, link string) bool {
	return name == link || len(name) > len(link) && name[len(name)-len(link)-1:] == "."+link
}
