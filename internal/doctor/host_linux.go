package doctor

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// checkHost looks at what a TUN-mode interface needs from the host:
// read-only, through netlink and /proc/sys.
func checkHost(t *Target, env *environment) []Result {
	linkName := t.Running.Link
	link, err := netlink.LinkByName(linkName)
	if err != nil {
		return []Result{fail("host.link", linkName, fmt.Sprintf("no network interface %s: %v", linkName, err),
			fmt.Sprintf("wgu down %s && wgu up %s", t.Config.Name, t.Config.Name))}
	}
	rs := []Result{checkLink(t, link)}
	rs = append(rs, checkRoutes(t, link)...)
	rs = append(rs, checkPolicy(t, link)...)
	rs = append(rs, checkForwarding(t)...)
	rs = append(rs, checkRPFilter(t, env)...)
	return rs
}

func checkLink(t *Target, link netlink.Link) Result {
	const id = "host.link"
	name := link.Attrs().Name
	if link.Attrs().Flags&net.FlagUp == 0 {
		return fail(id, name, name+" is down", "ip link set "+name+" up")
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return warn(id, name, "could not list its addresses: "+err.Error(), "")
	}
	have := map[netip.Prefix]bool{}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			ones, _ := a.Mask.Size()
			have[netip.PrefixFrom(ip.Unmap(), ones)] = true
		}
	}
	var missing []string
	for _, a := range t.Config.Interface.Addresses {
		if !have[a] {
			missing = append(missing, a.String())
		}
	}
	if len(missing) > 0 {
		return fail(id, name, fmt.Sprintf("%s is up but lacks Address %s", name, strings.Join(missing, ", ")),
			fmt.Sprintf("ip address add %s dev %s", missing[0], name))
	}
	return ok(id, name, fmt.Sprintf("%s is up with its %d addresses", name, len(t.Config.Interface.Addresses)))
}

// linkRoutes lists the routes out of link in every table.
func linkRoutes(link netlink.Link) ([]netlink.Route, error) {
	return netlink.RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{LinkIndex: link.Attrs().Index, Table: unix.RT_TABLE_UNSPEC},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
}

func routeDst(r netlink.Route) netip.Prefix {
	if r.Dst == nil {
		if r.Family == unix.AF_INET6 {
			return netip.MustParsePrefix("::/0")
		}
		return netip.MustParsePrefix("0.0.0.0/0")
	}
	ip, _ := netip.AddrFromSlice(r.Dst.IP)
	ones, _ := r.Dst.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones)
}

// checkRoutes: every AllowedIPs entry must be routed into the interface
// (in main, or in the config's Table), or the host never sends it there.
func checkRoutes(t *Target, link netlink.Link) []Result {
	const id = "host.routes"
	name := link.Attrs().Name
	if strings.EqualFold(t.Config.Interface.Table, "off") {
		return []Result{ok(id, name, "Table = off: routes for AllowedIPs are yours to add")}
	}
	routes, err := linkRoutes(link)
	if err != nil {
		return []Result{warn(id, name, "could not list routes: "+err.Error(), "")}
	}
	var rs []Result
	n := 0
	for _, p := range t.Config.Peers {
		for _, a := range p.AllowedIPs {
			n++
			a = a.Masked()
			found := false
			for _, r := range routes {
				if d := routeDst(r); d.Addr().Is4() == a.Addr().Is4() && d.Bits() <= a.Bits() && d.Contains(a.Addr()) {
					found = true
					break
				}
			}
			if !found {
				table := ""
				if tb := t.Config.Interface.Table; tb != "" && !strings.EqualFold(tb, "auto") {
					table = " table " + tb
				}
				rs = append(rs, fail(id, a.String(), fmt.Sprintf("no route sends AllowedIPs %s into %s", a, name),
					fmt.Sprintf("ip route add %s dev %s%s (or wgu down && wgu up)", a, name, table)))
			}
		}
	}
	if len(rs) == 0 {
		return []Result{ok(id, name, fmt.Sprintf("every AllowedIPs (%d) is routed into %s", n, name))}
	}
	return rs
}

// checkPolicy: a full tunnel (0.0.0.0/0 or ::/0) needs wg-quick's policy
// rules, so that the tunnel's own packets still reach the endpoint.
func checkPolicy(t *Target, link netlink.Link) []Result {
	const id = "host.policy"
	tb := t.Config.Interface.Table
	if tb != "" && !strings.EqualFold(tb, "auto") {
		return nil
	}
	routes, err := linkRoutes(link)
	if err != nil {
		return nil
	}
	var rs []Result
	for _, fam := range []struct {
		name   string
		family int
		all    netip.Prefix
	}{{"IPv4", netlink.FAMILY_V4, netip.MustParsePrefix("0.0.0.0/0")}, {"IPv6", netlink.FAMILY_V6, netip.MustParsePrefix("::/0")}} {
		if !t.hasAllowed(fam.all) {
			continue
		}
		table := 0
		for _, r := range routes {
			if routeDst(r) == fam.all && r.Table != unix.RT_TABLE_MAIN {
				table = r.Table
			}
		}
		rules, err := netlink.RuleList(fam.family)
		if err != nil {
			rs = append(rs, warn(id, fam.name, "could not list policy rules: "+err.Error(), ""))
			continue
		}
		var toTable, suppress bool
		for _, r := range rules {
			if table != 0 && r.Table == table && r.Invert && r.Mark != 0 {
				toTable = true
			}
			if r.Table == unix.RT_TABLE_MAIN && r.SuppressPrefixlen == 0 {
				suppress = true
			}
		}
		fix := fmt.Sprintf("wgu down %[1]s && wgu up %[1]s (it adds wg-quick's rules: not fwmark M table M, and table main suppress_prefixlength 0)", t.Config.Name)
		switch {
		case table == 0:
			rs = append(rs, fail(id, fam.name, fmt.Sprintf("full tunnel (%s) but no default route into %s in a table of its own", fam.all, link.Attrs().Name), fix))
		case !toTable || !suppress:
			rs = append(rs, fail(id, fam.name, fmt.Sprintf("full tunnel (%s) but the policy rules that send unmarked traffic to table %d are missing", fam.all, table), fix))
		default:
			rs = append(rs, ok(id, fam.name, fmt.Sprintf("full tunnel (%s): policy rules send unmarked traffic to table %d", fam.all, table)))
		}
	}
	return rs
}

func (t *Target) hasAllowed(p netip.Prefix) bool {
	for _, peer := range t.Config.Peers {
		for _, a := range peer.AllowedIPs {
			if a.Masked() == p {
				return true
			}
		}
	}
	return false
}

func sysctl(path string) string {
	b, err := os.ReadFile("/proc/sys/" + path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// checkForwarding: a hub (more than one peer) forwards between its spokes;
// with ip_forward off the kernel drops what one spoke sends another.
func checkForwarding(t *Target) []Result {
	const id = "host.ip_forward"
	peers := len(t.Config.Peers)
	if t.Running != nil && t.Running.Status != nil {
		peers = len(t.Running.Status.Peers)
	}
	if peers < 2 {
		return nil
	}
	v4, v6 := false, false
	for _, a := range t.Config.Interface.Addresses {
		if a.Addr().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	if !v4 && !v6 {
		v4 = true
	}
	var rs []Result
	if v4 && sysctl("net/ipv4/ip_forward") != "1" {
		rs = append(rs, fail(id, "IPv4", fmt.Sprintf("this interface has %d peers (a hub) but net.ipv4.ip_forward is off: spokes cannot reach each other", peers),
			"sysctl -w net.ipv4.ip_forward=1 (and PostUp = sysctl -w net.ipv4.ip_forward=1 to keep it)"))
	}
	if v6 && sysctl("net/ipv6/conf/all/forwarding") != "1" {
		rs = append(rs, fail(id, "IPv6", fmt.Sprintf("this interface has %d peers (a hub) but net.ipv6.conf.all.forwarding is off: spokes cannot reach each other over IPv6", peers),
			"sysctl -w net.ipv6.conf.all.forwarding=1"))
	}
	if len(rs) == 0 {
		return []Result{ok(id, "", fmt.Sprintf("forwarding is on for this hub's %d peers", peers))}
	}
	return rs
}

// checkRPFilter: with a full IPv4 tunnel, strict reverse-path filtering
// drops the endpoint's replies unless src_valid_mark lets the filter see
// the fwmark (wg-quick sets it).
func checkRPFilter(t *Target, env *environment) []Result {
	const id = "host.rp_filter"
	if !t.hasAllowed(netip.MustParsePrefix("0.0.0.0/0")) {
		return nil
	}
	if sysctl("net/ipv4/conf/all/src_valid_mark") == "1" {
		return []Result{ok(id, "", "full tunnel: src_valid_mark = 1, so reverse-path filtering sees the fwmark")}
	}
	var rs []Result
	for _, p := range t.Running.Status.Peers {
		ap := endpointAddr(p.Endpoint)
		if !ap.IsValid() || !ap.Addr().Unmap().Is4() {
			continue
		}
		route, err := env.net.Route(ap.Addr().Unmap())
		if err != nil || route.Dev == "" {
			continue
		}
		all, dev := sysctl("net/ipv4/conf/all/rp_filter"), sysctl("net/ipv4/conf/"+route.Dev+"/rp_filter")
		if all == "1" || (dev == "1" && all != "2") {
			rs = append(rs, fail(id, route.Dev,
				fmt.Sprintf("full tunnel with strict rp_filter on %s and src_valid_mark = 0: replies from %s are dropped", route.Dev, ap),
				"sysctl -w net.ipv4.conf.all.src_valid_mark=1"))
		}
	}
	if len(rs) == 0 {
		return []Result{ok(id, "", "full tunnel: reverse-path filtering lets the endpoint's replies in")}
	}
	return rs
}
