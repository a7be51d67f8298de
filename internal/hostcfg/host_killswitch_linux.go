package hostcfg

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// killSwitchMetric ranks the kill switch after any real route in the policy
// table (the largest metric an int holds on every platform): while the tunnel's link lives, its default route (metric 0 or
// 1024) wins; when the link dies with a crashed process, the kernel removes
// that route and the kill switch is all that is left.
const killSwitchMetric = math.MaxInt32

// addKillSwitch puts an unreachable default route of dst's family into the
// policy table, behind the tunnel's own. Policy routing's rules send every
// packet without the device's fwmark to that table once the main table's
// more specific routes had their chance (suppress_prefixlength 0), so while
// the daemon is dead exactly the traffic the tunnel carried fails with
// "network unreachable" instead of following the main table's default route
// in the clear. The device's own UDP (marked), loopback and the main
// table's more specific routes (the LAN) are untouched, as while the tunnel
// runs. A route the predecessor left is taken over (replace is idempotent).
func (s *State) addKillSwitch(log *slog.Logger, dst netip.Prefix, table int) error {
	r := Route{Dst: dst, Table: table}
	log.Info("adding kill switch route", "route", fmt.Sprintf("unreachable %s table %d metric %d", dst, table, killSwitchMetric))
	if err := netlink.RouteReplace(killSwitchRoute(r)); err != nil {
		return fmt.Errorf("adding kill switch (unreachable %s table %d): %w", dst, table, err)
	}
	s.KillSwitch = append(s.KillSwitch, r)
	if s.prev != nil {
		s.prev.KillSwitch = slices.DeleteFunc(s.prev.KillSwitch, func(x Route) bool { return x == r })
	}
	return nil
}

func (s *State) removeKillSwitch(log *slog.Logger) error {
	var errs []error
	var kept []Route
	for _, r := range s.KillSwitch {
		log.Info("removing kill switch route", "route", fmt.Sprintf("unreachable %s table %d", r.Dst, r.Table))
		if err := netlink.RouteDel(killSwitchRoute(r)); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("removing kill switch (unreachable %s table %d): %w", r.Dst, r.Table, err))
			kept = append(kept, r)
		}
	}
	s.KillSwitch = kept
	return errors.Join(errs...)
}

// killSwitchRoute is `ip route add unreachable DST table T metric MAX`.
func killSwitchRoute(r Route) *netlink.Route {
	return &netlink.Route{Dst: prefixToIPNet(r.Dst), Table: r.Table, Type: unix.RTN_UNREACHABLE, Priority: killSwitchMetric}
}

// takeRule finds r among the rules a dead predecessor added and still on
// the host; it returns it (with its priority) and forgets it there, so the
// predecessor's Undo leaves it to s.
func (s *State) takeRule(r Rule) (Rule, bool) {
	if s.prev == nil {
		return Rule{}, false
	}
	same := func(x Rule) bool {
		return x.Family == r.Family && x.Table == r.Table && x.NotFwMark == r.NotFwMark &&
			(x.SuppressPrefixLength == nil) == (r.SuppressPrefixLength == nil) &&
			(x.SuppressPrefixLength == nil || *x.SuppressPrefixLength == *r.SuppressPrefixLength)
	}
	i := slices.IndexFunc(s.prev.Rules, same)
	if i < 0 {
		return Rule{}, false
	}
	old := s.prev.Rules[i]
	s.prev.Rules = slices.Delete(s.prev.Rules, i, i+1)
	rules, err := netlink.RuleListFiltered(old.netlink().Family, &netlink.Rule{Table: old.Table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return Rule{}, false
	}
	for _, have := range rules {
		if old.matches(have) && have.Priority == old.Priority {
			return old, true
		}
	}
	return Rule{}, false // removed by hand since: add it again
}
