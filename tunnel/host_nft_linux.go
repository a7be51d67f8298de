package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
)

// nftTableName is the table holding a tunnel's rules: wg-quick's
// "wg-quick-IFNAME" under wgu's name. nft takes no quoted table names, so
// characters an interface name allows but nft does not (= and +) become _.
func nftTableName(iface string) string {
	return "wgu-" + strings.Map(func(r rune) rune {
		if r == '=' || r == '+' {
			return '_'
		}
		return r
	}, iface)
}

// addNftTable installs, for one family, the firewall rules wg-quick adds
// with a default route:
//   - drop packets for the tunnel's addresses that arrive on another
//     interface from a non-local source, since with the default route
//     moved into the tunnel nothing else stops a neighbour from reaching
//     them;
//   - copy the fwmark of the device's outgoing UDP packets into conntrack
//     and back onto the replies, so the reverse-path filter looks up the
//     replies with the same mark (hence the same table) as the requests.
//
// Without nft the tunnel still works, so it only warns.
func (s *HostState) addNftTable(ctx context.Context, log *slog.Logger, link netlink.Link, ipv6 bool, mark uint32) error {
	nft, err := exec.LookPath("nft")
	if err != nil {
		log.Warn("nft not found: skipping the firewall rules wg-quick adds for a default route "+
			"(dropping outside packets to the tunnel's addresses, keeping the fwmark on replies)", "dev", s.Link)
		return nil
	}
	family, nlFamily := "ip", netlink.FAMILY_V4
	if ipv6 {
		family, nlFamily = "ip6", netlink.FAMILY_V6
	}
	addrs, err := netlink.AddrList(link, nlFamily)
	if err != nil {
		return fmt.Errorf("listing addresses of %s: %w", s.Link, err)
	}
	var local []netip.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			local = append(local, ip.Unmap())
		}
	}
	tbl := NftTable{Family: family, Name: nftTableName(s.Link)}
	// Recorded first: if nft fails half-way, removing the table is still right.
	s.NftTables = append(s.NftTables, tbl)
	if s.prev != nil {
		// The script below replaces the predecessor's table of that name.
		s.prev.NftTables = slices.DeleteFunc(s.prev.NftTables, func(x NftTable) bool { return x == tbl })
	}
	log.Info("adding nftables table", "family", family, "table", tbl.Name)
	return runNft(ctx, nft, nftSetupScript(tbl, s.Link, local, mark))
}

// nftSetupScript is the nft input that (re)creates tbl. It starts by
// deleting any leftover table of that name (from a crash) so that rules
// are never doubled.
func nftSetupScript(tbl NftTable, iface string, local []netip.Addr, mark uint32) string {
	var b strings.Builder
	t := tbl.Family + " " + tbl.Name
	fmt.Fprintf(&b, "add table %s\ndelete table %s\nadd table %s\n", t, t, t)
	fmt.Fprintf(&b, "add chain %s preraw { type filter hook prerouting priority -300; }\n", t)
	fmt.Fprintf(&b, "add chain %s premangle { type filter hook prerouting priority -150; }\n", t)
	fmt.Fprintf(&b, "add chain %s postmangle { type filter hook postrouting priority -150; }\n", t)
	for _, a := range local {
		fmt.Fprintf(&b, "add rule %s preraw iifname != %q %s daddr %s fib saddr type != local drop\n",
			t, iface, tbl.Family, a.WithZone(""))
	}
	fmt.Fprintf(&b, "add rule %s postmangle meta l4proto udp mark %d ct mark set mark\n", t, mark)
	fmt.Fprintf(&b, "add rule %s premangle meta l4proto udp meta mark set ct mark\n", t)
	return b.String()
}

func (s *HostState) removeNftTables(ctx context.Context, log *slog.Logger) error {
	if len(s.NftTables) == 0 {
		return nil
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		return fmt.Errorf("removing nftables tables: %w", err)
	}
	var errs []error
	var kept []NftTable
	for _, tbl := range s.NftTables {
		log.Info("removing nftables table", "family", tbl.Family, "table", tbl.Name)
		// Adding first makes the delete succeed whether or not it exists.
		t := tbl.Family + " " + tbl.Name
		if err := runNft(ctx, nft, "add table "+t+"\ndelete table "+t+"\n"); err != nil {
			errs = append(errs, err)
			kept = append(kept, tbl)
		}
	}
	s.NftTables = kept
	return errors.Join(errs...)
}

func runNft(ctx context.Context, nft, script string) error {
	cmd := exec.CommandContext(ctx, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("running nft -f: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
