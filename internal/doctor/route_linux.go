package doctor

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// kernelNet asks the kernel's routing table (read-only: RTM_GETROUTE).
type kernelNet struct{}

func (kernelNet) Route(dst netip.Addr) (Route, error) {
	routes, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil {
		return Route{}, fmt.Errorf("route to %s: %w", dst, err)
	}
	if len(routes) == 0 {
		return Route{}, fmt.Errorf("no route to %s", dst)
	}
	r := routes[0]
	var out Route
	if a, ok := netip.AddrFromSlice(r.Src); ok {
		out.Src = a.Unmap()
	}
	out.ViaGateway = r.Gw != nil
	out.MTU = r.MTU
	if link, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
		out.Dev = link.Attrs().Name
		if out.MTU == 0 {
			out.MTU = link.Attrs().MTU
		}
	}
	return out, nil
}
