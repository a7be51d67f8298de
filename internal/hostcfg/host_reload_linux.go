package hostcfg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/wgu-project/wgu/tunnel/config"
	"golang.org/x/sys/unix"
)

// Reconfigure brings the addresses and AllowedIPs routes Configure set
// up to date with p.Config: what p.Config no longer has is removed, what it
// adds is added, the rest is left alone. MTU, DNS, Table and policy routing
// (default routes) are not changed: the caller refuses such changes.
func (s *State) Reconfigure(ctx context.Context, log *slog.Logger, p Params) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	link, err := netlink.LinkByName(s.Link)
	if err != nil {
		return fmt.Errorf("reconfiguring host: finding link %s: %w", s.Link, err)
	}
	if link.Attrs().Index != s.LinkIndex {
		return fmt.Errorf("reconfiguring host: link %s was replaced", s.Link)
	}
	if err := s.syncAddresses(log, link, p.Config.Interface.Addresses); err != nil {
		return fmt.Errorf("reconfiguring host (addresses) for %s: %w", s.Link, err)
	}
	if err := s.syncRoutes(log, link, p.Config); err != nil {
		return fmt.Errorf("reconfiguring host (routes) for %s: %w", s.Link, err)
	}
	return ctx.Err()
}

// syncAddresses removes the recorded addresses that want lacks, then adds
// the ones it lacks. An address that was already on the link is not
// recorded, so Undo leaves it. Removing first matters: with
// promote_secondaries off (the default), removing a subnet's primary
// address also removes the secondaries in that subnet, so a new address
// in the old one's subnet added first would go with it.
func (s *State) syncAddresses(log *slog.Logger, link netlink.Link, want []netip.Prefix) error {
	var errs []error
	kept := s.Addresses[:0:0]
	for _, a := range s.Addresses {
		if slices.Contains(want, a) {
			kept = append(kept, a)
			continue
		}
		// Its subnet's route goes with it, and may have covered peers'
		// AllowedIPs; and with the link's last IPv4 address, the kernel
		// drops all of the link's IPv4 routes: check them all.
		s.settled = nil
		log.Info("removing address", "addr", a.String(), "dev", s.Link)
		if err := netlink.AddrDel(link, netlinkAddr(a)); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("removing address %s from %s: %w", a, s.Link, err))
			kept = append(kept, a)
		}
	}
	s.Addresses = kept
	for _, a := range want {
		if slices.Contains(s.Addresses, a) {
			continue
		}
		log.Info("adding address", "addr", a.String(), "dev", s.Link)
		if err := netlink.AddrAdd(link, netlinkAddr(a)); err != nil {
			if errors.Is(err, unix.EEXIST) {
				continue
			}
			errs = append(errs, fmt.Errorf("adding address %s to %s: %w", a, s.Link, err))
			continue
		}
		s.Addresses = append(s.Addresses, a)
	}
	return errors.Join(errs...)
}

// syncRoutes makes the recorded AllowedIPs routes (default routes aside)
// match cfg's, by wg-quick's rules for its Table setting. Only the prefixes
// not settled by the previous sync are checked against the link's routes: a
// hub's reload that changed one peer checks one prefix, not thousands.
func (s *State) syncRoutes(log *slog.Logger, link netlink.Link, cfg *config.Config) error {
	table := cfg.Interface.Table
	if table == "off" {
		return nil
	}
	id := unix.RT_TABLE_MAIN
	auto := table == "" || table == "auto"
	if !auto {
		var err error
		if id, err = resolveTable(table); err != nil {
			return err
		}
	}
	want := routedPrefixes(cfg, auto)
	managed := func(r Route) bool {
		// Policy routing's default routes stay as they are.
		return r.Table == id && (r.Dst.Bits() != 0 || !auto)
	}
	nlh, done := newRouteHandle()
	defer done()
	var errs []error
	var kept []Route
	for _, r := range s.Routes {
		if _, ok := want[r.Dst]; !managed(r) || ok {
			kept = append(kept, r)
			continue
		}
		// A prefix the removed route covered may need a route of its own
		// now: check them all below.
		s.settled = nil
		log.Info("removing route", "dst", r.Dst.String(), "dev", s.Link, "table", r.Table)
		if err := nlh.RouteDel(netlinkRoute(link.Attrs().Index, r.Dst, r.Table)); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("removing route %s dev %s table %d: %w", r.Dst, s.Link, r.Table, err))
			kept = append(kept, r)
		}
	}
	s.Routes = kept
	// One listing after the removals serves every prefix (see addRoutes).
	// A reload that changed a few peers needs none (see settled): a hub's
	// link has thousands of routes to list.
	var have *linkRoutes
	if s.settled == nil {
		s.settled = make(map[netip.Prefix]struct{}, len(want))
		var err error
		if have, err = listLinkRoutes(link, id); err != nil {
			return errors.Join(append(errs, err)...)
		}
		kept = s.Routes[:0]
		for _, r := range s.Routes {
			if managed(r) && !have.has(r.Dst) {
				// Gone with the link's last IPv4 address, from every
				// table (see syncAddresses): added again below.
				continue
			}
			kept = append(kept, r)
			if managed(r) {
				s.settled[r.Dst] = struct{}{}
			}
		}
		s.Routes = kept
	}
	for pfx := range s.settled {
		if _, ok := want[pfx]; !ok {
			delete(s.settled, pfx)
		}
	}
	var add []netip.Prefix
	for pfx := range want {
		if _, ok := s.settled[pfx]; !ok {
			add = append(add, pfx)
		}
	}
	// Longest first, as at up: a route added for one never covers another
	// checked before it.
	slices.SortFunc(add, comparePrefixes)
	if auto && have == nil && len(add) > 0 {
		var err error
		if have, err = listLinkRoutes(link, id); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	for _, pfx := range add {
		if auto && have.covers(pfx) {
			s.settled[pfx] = struct{}{}
			continue
		}
		if err := s.addRoute(log, nlh, link, pfx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// routedPrefixes is the set of cfg's AllowedIPs, masked, that get routes
// of the link: all of them in a table of their own, all but the default
// routes (policy routing's) in Table=auto.
func routedPrefixes(cfg *config.Config, auto bool) map[netip.Prefix]struct{} {
	want := make(map[netip.Prefix]struct{}, len(cfg.Peers))
	for _, peer := range cfg.Peers {
		for _, pfx := range peer.AllowedIPs {
			if pfx = pfx.Masked(); pfx.Bits() != 0 || !auto {
				want[pfx] = struct{}{}
			}
		}
	}
	return want
}
