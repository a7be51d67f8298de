package hostcfg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// defaultPolicyTable is wg-quick's first choice of table (and fwmark) for a
// tunnel that carries a default route.
const defaultPolicyTable = 51820

// srcValidMarkPath is the sysctl that makes the reverse-path filter take
// fwmarks into account, without which replies to the marked (encrypted)
// packets would be dropped.
const srcValidMarkPath = "/proc/sys/net/ipv4/conf/all/src_valid_mark"

// addPolicyRouting is wg-quick's add_default for each default route in
// defaults: a default route in table T, used by every packet that does not
// carry fwmark T (the device marks its own UDP packets with T, so they still
// leave by the main table), while main-table routes more specific than a
// default keep winning (suppress_prefixlength 0).
func (s *State) addPolicyRouting(ctx context.Context, log *slog.Logger, link netlink.Link, p Params, defaults []netip.Prefix) error {
	mark := p.Config.Interface.FwMark
	if mark == 0 {
		var err error
		if s.prev != nil && s.prev.FwMark != 0 {
			// The dead predecessor's table holds its kill switch: keep it.
			mark = s.prev.FwMark
		} else if mark, err = firstFreeTable(defaultPolicyTable); err != nil {
			return err
		}
		if p.SetFwMark == nil {
			return errors.New("a default route needs the device's fwmark set, and no way to set it was given")
		}
		log.Info("setting fwmark", "fwmark", mark, "dev", s.Link)
		if err := p.SetFwMark(mark); err != nil {
			return fmt.Errorf("setting fwmark %d on %s: %w", mark, s.Link, err)
		}
	}
	s.FwMark = mark
	zero := 0
	for _, d := range defaults {
		family := "inet"
		if d.Addr().Is6() {
			family = "inet6"
		}
		if err := s.addRule(log, Rule{Family: family, Table: int(mark), NotFwMark: mark}); err != nil {
			return err
		}
		if err := s.addRule(log, Rule{Family: family, Table: unix.RT_TABLE_MAIN, SuppressPrefixLength: &zero}); err != nil {
			return err
		}
		// One route: a socket of its own (see newRouteHandle) is no cost.
		if err := s.addRoute(log, &netlink.Handle{}, link, d, int(mark)); err != nil {
			return err
		}
		if p.KillSwitch {
			if err := s.addKillSwitch(log, d, int(mark)); err != nil {
				return err
			}
		}
		if family == "inet" {
			if err := s.setSrcValidMark(log); err != nil {
				return err
			}
		}
		if err := s.addNftTable(ctx, log, link, d.Addr().Is6(), mark); err != nil {
			return err
		}
	}
	return nil
}

// firstFreeTable is the first table from start on that holds no route of
// either family, as wg-quick picks it.
func firstFreeTable(start uint32) (uint32, error) {
	for t := uint64(start); t <= math.MaxUint32; t++ {
		used := false
		for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			routes, err := netlink.RouteListFiltered(family, &netlink.Route{Table: int(t)}, netlink.RT_FILTER_TABLE)
			if err != nil {
				return 0, fmt.Errorf("listing routes of table %d: %w", t, err)
			}
			used = used || len(routes) > 0
		}
		if !used {
			return uint32(t), nil
		}
	}
	return 0, fmt.Errorf("no free routing table from %d on", start)
}

// addRule adds r and records it with the priority the kernel gave it, so
// that Undo removes this rule and not an identical one of another tunnel.
func (s *State) addRule(log *slog.Logger, r Rule) error {
	if have, ok := s.takeRule(r); ok {
		log.Info("keeping rule of the previous process", "rule", have.String())
		s.Rules = append(s.Rules, have)
		return nil
	}
	log.Info("adding rule", "rule", r.String())
	if err := netlink.RuleAdd(r.netlink()); err != nil {
		return fmt.Errorf("adding rule %s: %w", r, err)
	}
	// Without a priority, the kernel puts the rule before all but the first
	// (priority 0) one, so ours is the matching rule of lowest priority.
	rules, err := netlink.RuleListFiltered(r.netlink().Family, &netlink.Rule{Table: r.Table}, netlink.RT_FILTER_TABLE)
	if err == nil {
		for _, have := range rules {
			if r.matches(have) && have.Priority > 0 && (r.Priority == 0 || have.Priority < r.Priority) {
				r.Priority = have.Priority
			}
		}
	}
	s.Rules = append(s.Rules, r)
	return nil
}

func (s *State) removeRules(log *slog.Logger) error {
	var errs []error
	var kept []Rule
	for i := len(s.Rules) - 1; i >= 0; i-- {
		r := s.Rules[i]
		// A rule wgu did not add is never deleted, whatever the record
		// says: a delete request matches loosely, and "table main" alone
		// would take the host's own main lookup rule.
		if err := s.validateRule(r); err != nil {
			errs = append(errs, fmt.Errorf("not removing rule: %w", err))
			continue
		}
		log.Info("removing rule", "rule", r.String())
		if err := netlink.RuleDel(r.netlink()); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("removing rule %s: %w", r, err))
			kept = append(kept, r)
		}
	}
	slices.Reverse(kept)
	s.Rules = kept
	return errors.Join(errs...)
}

// String is the rule as `ip rule` would take it.
func (r Rule) String() string {
	var b strings.Builder
	if r.Family == "inet6" {
		b.WriteString("-6 ")
	}
	if r.Priority > 0 {
		fmt.Fprintf(&b, "priority %d ", r.Priority)
	}
	if r.NotFwMark != 0 {
		fmt.Fprintf(&b, "not fwmark %d ", r.NotFwMark)
	}
	fmt.Fprintf(&b, "table %d", r.Table)
	if r.SuppressPrefixLength != nil {
		fmt.Fprintf(&b, " suppress_prefixlength %d", *r.SuppressPrefixLength)
	}
	return b.String()
}

func (r Rule) netlink() *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = netlink.FAMILY_V4
	if r.Family == "inet6" {
		nr.Family = netlink.FAMILY_V6
	}
	nr.Table = r.Table
	if r.Priority > 0 {
		nr.Priority = r.Priority
	}
	if r.NotFwMark != 0 {
		nr.Mark = r.NotFwMark
		nr.Invert = true
	}
	if r.SuppressPrefixLength != nil {
		nr.SuppressPrefixlen = *r.SuppressPrefixLength
	}
	return nr
}

// matches reports whether a listed rule is r, priority aside.
func (r Rule) matches(have netlink.Rule) bool {
	want := r.netlink()
	return have.Table == want.Table && have.Mark == want.Mark && have.Invert == want.Invert &&
		have.SuppressPrefixlen == want.SuppressPrefixlen && have.Src == nil && have.Dst == nil &&
		have.IifName == "" && have.OifName == ""
}

// setSrcValidMark sets net.ipv4.conf.all.src_valid_mark to 1, remembering
// the old value; like current wg-quick, it leaves a 1 alone.
func (s *State) setSrcValidMark(log *slog.Logger) error {
	if p := s.prev; p != nil && p.SrcValidMarkChanged {
		// The value to restore is the one from before the predecessor.
		s.SrcValidMarkChanged, s.SrcValidMarkOld = true, p.SrcValidMarkOld
		p.SrcValidMarkChanged, p.SrcValidMarkOld = false, ""
	}
	b, err := os.ReadFile(srcValidMarkPath)
	if err != nil {
		return fmt.Errorf("reading net.ipv4.conf.all.src_valid_mark: %w", err)
	}
	old := strings.TrimSpace(string(b))
	if old == "1" {
		return nil
	}
	log.Info("setting sysctl net.ipv4.conf.all.src_valid_mark=1", "was", old)
	if err := os.WriteFile(srcValidMarkPath, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("setting net.ipv4.conf.all.src_valid_mark=1: %w", err)
	}
	if !s.SrcValidMarkChanged {
		s.SrcValidMarkChanged, s.SrcValidMarkOld = true, old
	}
	return nil
}

func (s *State) restoreSrcValidMark(log *slog.Logger) error {
	if !s.SrcValidMarkChanged {
		return nil
	}
	log.Info("restoring sysctl net.ipv4.conf.all.src_valid_mark", "value", s.SrcValidMarkOld)
	if err := os.WriteFile(srcValidMarkPath, []byte(s.SrcValidMarkOld+"\n"), 0o644); err != nil {
		return fmt.Errorf("restoring net.ipv4.conf.all.src_valid_mark=%s: %w", s.SrcValidMarkOld, err)
	}
	s.SrcValidMarkChanged, s.SrcValidMarkOld = false, ""
	return nil
}
