package hostcfg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// addRoutes routes the peers' AllowedIPs to the link, as wg-quick does for
// each Table setting: off adds nothing; a table adds every prefix there;
// auto (or unset) adds to main what the link's routes do not already cover,
// and turns default routes into policy routing.
func (s *State) addRoutes(ctx context.Context, log *slog.Logger, link netlink.Link, p Params) error {
	table := p.Config.Interface.Table
	if table == "off" {
		return nil
	}
	prefixes := AllowedPrefixes(p.Config)
	s.settled = make(map[netip.Prefix]struct{}, len(prefixes))
	nlh, done := newRouteHandle()
	defer done()
	if table != "" && table != "auto" {
		id, err := resolveTable(table)
		if err != nil {
			return err
		}
		for _, pfx := range prefixes {
			if err := s.addRoute(log, nlh, link, pfx, id); err != nil {
				return err
			}
		}
		return nil
	}
	// One listing of the link's routes serves every prefix: prefixes come
	// longest first, so a route added below never covers a later one.
	have, err := listLinkRoutes(link, unix.RT_TABLE_MAIN)
	if err != nil {
		return err
	}
	var defaults []netip.Prefix
	for _, pfx := range prefixes {
		if pfx.Bits() == 0 {
			defaults = append(defaults, pfx)
			continue
		}
		if have.covers(pfx) {
			// e.g. a peer's /32 inside the subnet of the link's Address.
			s.settled[pfx] = struct{}{}
			continue
		}
		if err := s.addRoute(log, nlh, link, pfx, unix.RT_TABLE_MAIN); err != nil {
			return err
		}
	}
	if len(defaults) > 0 {
		return s.addPolicyRouting(ctx, log, link, p, defaults)
	}
	return nil
}

// newRouteHandle opens the one netlink socket a run of route changes
// shares: netlink's package functions open and close a socket for each
// call, which a hub does thousands of times. When no socket can be opened
// now, the handle falls back to a socket per call. done closes it.
func newRouteHandle() (h *netlink.Handle, done func()) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return &netlink.Handle{}, func() {}
	}
	return h, h.Close
}

// addRoute adds a route to dst via link in table, through nlh (see
// newRouteHandle), and records it.
func (s *State) addRoute(log *slog.Logger, nlh *netlink.Handle, link netlink.Link, dst netip.Prefix, table int) error {
	log.Info("adding route", "dst", dst.String(), "dev", s.Link, "table", table)
	if err := nlh.RouteAdd(netlinkRoute(link.Attrs().Index, dst, table)); err != nil {
		return fmt.Errorf("adding route %s dev %s table %d: %w", dst, s.Link, table, err)
	}
	s.Routes = append(s.Routes, Route{Dst: dst, Table: table})
	if s.settled != nil {
		s.settled[dst] = struct{}{}
	}
	return nil
}

func (s *State) removeRoutes(log *slog.Logger, link netlink.Link) error {
	nlh, done := newRouteHandle()
	defer done()
	var errs []error
	var kept []Route
	for i := len(s.Routes) - 1; i >= 0; i-- {
		r := s.Routes[i]
		log.Info("removing route", "dst", r.Dst.String(), "dev", s.Link, "table", r.Table)
		if err := nlh.RouteDel(netlinkRoute(link.Attrs().Index, r.Dst, r.Table)); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("removing route %s dev %s table %d: %w", r.Dst, s.Link, r.Table, err))
			kept = append(kept, r)
		}
	}
	slices.Reverse(kept)
	s.Routes = kept
	return errors.Join(errs...)
}

// netlinkRoute is `ip route add DST dev LINK table T`: a device route, which
// ip gives link scope for IPv4.
func netlinkRoute(linkIndex int, dst netip.Prefix, table int) *netlink.Route {
	r := &netlink.Route{LinkIndex: linkIndex, Dst: prefixToIPNet(dst), Table: table}
	if dst.Addr().Is4() {
		r.Scope = netlink.SCOPE_LINK
	}
	return r
}

// linkRoutes is the routes on a link in one table: in main, for wg-quick's
// `ip route show dev LINK match PFX` test.
type linkRoutes struct {
	dsts               map[netip.Prefix]struct{}
	default4, default6 bool
	// bits4 and bits6 are the prefix lengths dsts has, so that covers
	// looks up only those: a hub's link has one or two.
	bits4, bits6 []int
}

// listLinkRoutes lists the routes on link in table once, so that testing
// each of thousands of AllowedIPs costs map lookups, not a netlink dump.
func listLinkRoutes(link netlink.Link, table int) (*linkRoutes, error) {
	lr := &linkRoutes{dsts: map[netip.Prefix]struct{}{}}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteListFiltered(family,
			&netlink.Route{LinkIndex: link.Attrs().Index, Table: table},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("listing routes of %s: %w", link.Attrs().Name, err)
		}
		for _, r := range routes {
			if r.Dst == nil {
				if family == netlink.FAMILY_V4 {
					lr.default4 = true
				} else {
					lr.default6 = true
				}
				continue
			}
			addr, ok := netip.AddrFromSlice(r.Dst.IP)
			if !ok {
				continue
			}
			ones, _ := r.Dst.Mask.Size()
			if rp, err := addr.Unmap().Prefix(ones); err == nil {
				lr.add(rp)
			}
		}
	}
	return lr, nil
}

// add records a route's destination.
func (lr *linkRoutes) add(pfx netip.Prefix) {
	lr.dsts[pfx] = struct{}{}
	bits := &lr.bits4
	if pfx.Addr().Is6() {
		bits = &lr.bits6
	}
	if !slices.Contains(*bits, pfx.Bits()) {
		*bits = append(*bits, pfx.Bits())
	}
}

// has reports whether a route to exactly pfx was listed.
func (lr *linkRoutes) has(pfx netip.Prefix) bool {
	if pfx.Bits() == 0 {
		return pfx.Addr().Is4() && lr.default4 || pfx.Addr().Is6() && lr.default6
	}
	_, ok := lr.dsts[pfx]
	return ok
}

// covers reports whether a listed route contains pfx: a route of the same
// family whose prefix is no longer than pfx's and contains its address.
func (lr *linkRoutes) covers(pfx netip.Prefix) bool {
	bits := lr.bits4
	if pfx.Addr().Is6() {
		if lr.default6 {
			return true
		}
		bits = lr.bits6
	} else if lr.default4 {
		return true
	}
	for _, b := range bits {
		if b > pfx.Bits() {
			continue
		}
		p, err := pfx.Addr().Prefix(b)
		if err != nil {
			continue
		}
		if _, ok := lr.dsts[p]; ok {
			return true
		}
	}
	return false
}

// resolveTable turns a Table value into a table id: a number, one of the
// kernel's named tables, or a name from iproute2's rt_tables files.
func resolveTable(name string) (int, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return int(n), nil
	}
	switch name {
	case "main":
		return unix.RT_TABLE_MAIN, nil
	case "default":
		return unix.RT_TABLE_DEFAULT, nil
	case "local":
		return unix.RT_TABLE_LOCAL, nil
	}
	// Where iproute2 keeps table names, local ones first.
	files := []string{"/etc/iproute2/rt_tables", "/usr/share/iproute2/rt_tables", "/usr/lib/iproute2/rt_tables"}
	if extra, err := filepath.Glob("/etc/iproute2/rt_tables.d/*.conf"); err == nil {
		files = append(files, extra...)
	}
	for _, f := range files {
		if id, ok := lookupTableName(f, name); ok {
			return id, nil
		}
	}
	return 0, fmt.Errorf("routing table %q is neither a number nor named in %s", name, strings.Join(files, ", "))
}

// lookupTableName finds name in an rt_tables file ("ID NAME" lines, # comments).
func lookupTableName(path, name string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[1] != name {
			continue
		}
		if n, err := strconv.ParseUint(fields[0], 0, 32); err == nil {
			return int(n), true
		}
	}
	return 0, false
}
