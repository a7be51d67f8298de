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

// syncAddresses removes the recorded addresses that want lacks and adds the
// ones it lacks. An address that was already on the link is not recorded,
// so Undo leaves it.
func (s *State) syncAddresses(log *slog.Logger, link netlink.Link, want []netip.Prefix) error {
	var errs []error
	kept := s.Addresses[:0:0]
	for _, a := range s.Addresses {
		if slices.Contains(want, a) {
			kept = append(kept, a)
			continue
		}
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
// match cfg's, by wg-quick's rules for its Table setting.
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
	var want []netip.Prefix
	for _, pfx := range AllowedPrefixes(cfg) {
		if pfx.Bits() != 0 || !auto {
			want = append(want, pfx)
		}
	}
	managed := func(r Route) bool {
		// Policy routing's default routes stay as they are.
		return r.Table == id && (r.Dst.Bits() != 0 || !auto)
	}
	wantSet := make(map[netip.Prefix]bool, len(want))
	for _, pfx := range want {
		wantSet[pfx] = true
	}
	var errs []error
	var kept []Route
	for _, r := range s.Routes {
		if !managed(r) || wantSet[r.Dst] {
			kept = append(kept, r)
			continue
		}
		log.Info("removing route", "dst", r.Dst.String(), "dev", s.Link, "table", r.Table)
		if err := netlink.RouteDel(netlinkRoute(link.Attrs().Index, r.Dst, r.Table)); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("removing route %s dev %s table %d: %w", r.Dst, s.Link, r.Table, err))
			kept = append(kept, r)
		}
	}
	s.Routes = kept
	routed := make(map[netip.Prefix]bool, len(s.Routes))
	for _, r := range s.Routes {
		if managed(r) {
			routed[r.Dst] = true
		}
	}
	// One listing after the removals serves every prefix (see addRoutes).
	var have *linkRoutes
	if auto {
		var err error
		if have, err = listLinkRoutes(link); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	for _, pfx := range want {
		if routed[pfx] {
			continue
		}
		if auto && have.covers(pfx) {
			continue
		}
		if err := s.addRoute(log, link, pfx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
