package hostcfg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/wgu-project/wgu/internal/pathmtu"
	"golang.org/x/sys/unix"
)

// Configure does what wg-quick up does to the host around a WireGuard
// link, in the same order: addresses, MTU and link up, DNS, then routes (with
// policy routing, nftables rules and src_valid_mark for default routes). On
// error it undoes whatever it did and says which step failed.
func Configure(ctx context.Context, log *slog.Logger, p Params) (*State, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if p.Config == nil {
		return nil, errors.New("configuring host: no config")
	}
	link, err := netlink.LinkByName(p.Interface)
	if err != nil {
		return nil, fmt.Errorf("configuring host: finding link %s: %w", p.Interface, err)
	}
	s := &State{Link: p.Interface, LinkIndex: link.Attrs().Index, prev: p.Previous}
	defer func() { s.prev = nil }()
	steps := []struct {
		name string
		run  func() error
	}{
		{"sysctls", func() error { return s.setLinkSysctls(log) }},
		{"addresses", func() error { return s.addAddresses(log, link, p.Config.Interface.Addresses) }},
		{"MTU", func() error { return s.setMTUAndUp(log, link, p) }},
		{"DNS", func() error { return s.setDNS(ctx, log, p.Config.Interface) }},
		{"routes", func() error { return s.addRoutes(ctx, log, link, p) }},
	}
	for _, step := range steps {
		err := ctx.Err()
		if err == nil {
			err = step.run()
		}
		if err != nil {
			// Cleanup must finish even when ctx is what failed.
			if uerr := s.Undo(context.WithoutCancel(ctx), log); uerr != nil {
				log.Error("undoing a partial host configuration", "err", uerr)
			}
			return nil, fmt.Errorf("configuring host (%s) for %s: %w", step.name, p.Interface, err)
		}
	}
	return s, nil
}

// Undo reverts what Configure did, in reverse order. Things already gone
// (the link deleted, a rule removed by hand) are not errors, and each change
// undone is forgotten, so calling it again is harmless. A nil state is
// nothing to undo.
func (s *State) Undo(ctx context.Context, log *slog.Logger) error {
	if s == nil {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	errs = append(errs, s.removeNftTables(ctx, log))
	errs = append(errs, s.restoreSrcValidMark(log))

	// The addresses and routes were on the link: if it is gone (the usual
	// case after a crash, a TUN dies with its process), they went with it.
	link, err := netlink.LinkByName(s.Link)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound) || err == nil && link.Attrs().Index != s.LinkIndex:
		link = nil
		s.Routes, s.Addresses, s.MTUBefore, s.BroughtUp = nil, nil, 0, false
	case err != nil:
		errs = append(errs, fmt.Errorf("finding link %s: %w", s.Link, err))
		link = nil
	}
	if link != nil {
		errs = append(errs, s.removeRoutes(log, link))
	}
	errs = append(errs, s.removeRules(log))
	errs = append(errs, s.removeKillSwitch(log))
	errs = append(errs, s.restoreSendRedirects(log))
	errs = append(errs, s.removeDNS(ctx, log))
	if link != nil {
		errs = append(errs, s.restoreLink(log, link))
		errs = append(errs, s.removeAddresses(log, link))
	}
	return errors.Join(errs...)
}

// addAddresses adds each address as written (host bits kept), as
// `ip address add` does.
func (s *State) addAddresses(log *slog.Logger, link netlink.Link, addrs []netip.Prefix) error {
	for _, a := range addrs {
		log.Info("adding address", "addr", a.String(), "dev", s.Link)
		if err := netlink.AddrAdd(link, netlinkAddr(a)); err != nil {
			return fmt.Errorf("adding address %s to %s: %w", a, s.Link, err)
		}
		s.Addresses = append(s.Addresses, a)
	}
	return nil
}

func (s *State) removeAddresses(log *slog.Logger, link netlink.Link) error {
	var errs []error
	kept := s.Addresses[:0]
	for _, a := range s.Addresses {
		log.Info("removing address", "addr", a.String(), "dev", s.Link)
		if err := netlink.AddrDel(link, netlinkAddr(a)); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("removing address %s from %s: %w", a, s.Link, err))
			kept = append(kept, a)
		}
	}
	s.Addresses = kept
	return errors.Join(errs...)
}

func netlinkAddr(a netip.Prefix) *netlink.Addr {
	addr := &netlink.Addr{IPNet: prefixToIPNet(a)}
	if a.Addr().Is4() {
		// `ip address add` sets no broadcast address unless asked; netlink
		// would compute one, and IPv4zero is its way to say "none".
		addr.Broadcast = net.IPv4zero
	}
	return addr
}

// setMTUAndUp sets the MTU wg-quick would choose and brings the link up.
func (s *State) setMTUAndUp(log *slog.Logger, link netlink.Link, p Params) error {
	mtu := p.Config.Interface.MTU
	if mtu == 0 {
		mtu = pathmtu.Fit(log, autoMTU(log, p.EndpointAddrs), p.PathMTUProbes)
	}
	if old := link.Attrs().MTU; old != mtu {
		log.Info("setting MTU", "mtu", mtu, "dev", s.Link)
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("setting MTU %d on %s: %w", mtu, s.Link, err)
		}
		s.MTUBefore = old
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		log.Info("setting link up", "dev", s.Link)
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("setting %s up: %w", s.Link, err)
		}
		s.BroughtUp = true
	}
	return nil
}

func (s *State) restoreLink(log *slog.Logger, link netlink.Link) error {
	var errs []error
	if s.BroughtUp {
		log.Info("setting link down", "dev", s.Link)
		if err := netlink.LinkSetDown(link); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("setting %s down: %w", s.Link, err))
		} else {
			s.BroughtUp = false
		}
	}
	if s.MTUBefore != 0 {
		if err := netlink.LinkSetMTU(link, s.MTUBefore); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("restoring MTU %d on %s: %w", s.MTUBefore, s.Link, err))
		} else {
			s.MTUBefore = 0
		}
	}
	return errors.Join(errs...)
}

// wgOverhead is what WireGuard adds to a packet over IPv6 (40 IP + 8 UDP +
// 32 WireGuard), which wg-quick subtracts whatever the endpoint's family.
const wgOverhead = 80

// fallbackLinkMTU is the MTU wg-quick assumes when no route tells one.
const fallbackLinkMTU = 1500

// autoMTU is wg-quick's MTU rule: the smallest MTU of the routes towards the
// endpoints, else that of the first IPv4 default route, else 1500; minus
// the WireGuard overhead.
func autoMTU(log *slog.Logger, endpoints []netip.Addr) int {
	best := 0
	for _, ep := range endpoints {
		if ep.Zone() != "" {
			continue // wg-quick skips scoped endpoints
		}
		routes, err := netlink.RouteGet(ep.Unmap().AsSlice())
		if err != nil || len(routes) == 0 {
			log.Debug("no route to endpoint for the MTU", "endpoint", ep.String(), "err", err)
			continue
		}
		if m := routeMTU(routes[0]); m > 0 && (best == 0 || m < best) {
			best = m
		}
	}
	if best == 0 {
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
			&netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			log.Debug("listing routes for the MTU", "err", err)
		}
		for _, r := range routes {
			if r.Dst == nil || isDefault(r.Dst) {
				best = routeMTU(r)
				break
			}
		}
	}
	if best == 0 {
		best = fallbackLinkMTU
	}
	return best - wgOverhead
}

// routeMTU is the route's own mtu metric, else its output link's MTU.
func routeMTU(r netlink.Route) int {
	if r.MTU > 0 {
		return r.MTU
	}
	if link, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
		return link.Attrs().MTU
	}
	return 0
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// isGone reports an error that means the thing to remove is not there.
func isGone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) ||
		errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EADDRNOTAVAIL)
}
