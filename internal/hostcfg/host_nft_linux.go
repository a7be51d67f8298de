package hostcfg

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nftTableName is the table holding a tunnel's rules: wg-quick's
// "wg-quick-IFNAME" under wgu's name. nft takes no quoted table names, so
// characters an interface name allows but nft does not (= and +) become _
// (the table stays listable and deletable with the nft command).
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
// It talks netlink to nf_tables itself (no nft binary needed), in one
// transaction that also replaces any table of that name a crashed
// predecessor left, so rules are never doubled. A kernel without nf_tables
// only gets a warning: the tunnel works without these rules.
func (s *State) addNftTable(ctx context.Context, log *slog.Logger, link netlink.Link, ipv6 bool, mark uint32) error {
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
	log.Info("adding nftables table", "family", family, "table", tbl.Name)
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("adding nftables table %s %s: %w", family, tbl.Name, err)
	}
	buildNftTable(c, tbl, s.Link, local, mark)
	if err := c.Flush(); err != nil {
		if nftUnsupported(err) {
			log.Warn("no nftables in this kernel: skipping the firewall rules wg-quick adds for a default route "+
				"(dropping outside packets to the tunnel's addresses, keeping the fwmark on replies)", "dev", s.Link, "err", err)
			return nil
		}
		// Recorded anyway: if part of it exists, removing it is right.
		s.NftTables = append(s.NftTables, tbl)
		return fmt.Errorf("adding nftables table %s %s: %w", family, tbl.Name, err)
	}
	s.NftTables = append(s.NftTables, tbl)
	if s.prev != nil {
		// The transaction replaced the predecessor's table of that name.
		s.prev.NftTables = slices.DeleteFunc(s.prev.NftTables, func(x NftTable) bool { return x == tbl })
	}
	return nil
}

// nftUnsupported reports an error that means the kernel has no nf_tables:
// no nfnetlink (the socket's protocol), no nf_tables subsystem behind it
// (the batch is refused), or not for this family.
func nftUnsupported(err error) bool {
	return errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EAFNOSUPPORT)
}

// buildNftTable queues on c what `nft -f` would do with:
//
//	add table F T; delete table F T; add table F T
//	add chain F T preraw { type filter hook prerouting priority -300; }
//	add chain F T premangle { type filter hook prerouting priority -150; }
//	add chain F T postmangle { type filter hook postrouting priority -150; }
//	add rule F T preraw iifname != IFACE F daddr ADDR fib saddr type != local drop   (per address)
//	add rule F T postmangle meta l4proto udp mark MARK ct mark set mark
//	add rule F T premangle meta l4proto udp meta mark set ct mark
//
// with the same expressions, so `nft list ruleset` shows the same rules.
func buildNftTable(c *nftables.Conn, tbl NftTable, iface string, local []netip.Addr, mark uint32) {
	fam, daddrOffset, daddrLen := nftables.TableFamilyIPv4, uint32(16), uint32(4)
	if tbl.Family == "ip6" {
		fam, daddrOffset, daddrLen = nftables.TableFamilyIPv6, 24, 16
	}
	t := &nftables.Table{Family: fam, Name: tbl.Name}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	chain := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeFilter, Hooknum: hook, Priority: prio})
	}
	preraw := chain("preraw", nftables.ChainHookPrerouting, nftables.ChainPriorityRaw)
	premangle := chain("premangle", nftables.ChainHookPrerouting, nftables.ChainPriorityMangle)
	postmangle := chain("postmangle", nftables.ChainHookPostrouting, nftables.ChainPriorityMangle)

	ifname := make([]byte, unix.IFNAMSIZ)
	copy(ifname, iface)
	for _, a := range local {
		c.AddRule(&nftables.Rule{Table: t, Chain: preraw, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: daddrOffset, Len: daddrLen},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
			&expr.Fib{Register: 1, FlagSADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	udp := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: postmangle, Exprs: append(slices.Clip(udp),
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
	)})
	c.AddRule(&nftables.Rule{Table: t, Chain: premangle, Exprs: append(slices.Clip(udp),
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true},
	)})
}

func (s *State) removeNftTables(ctx context.Context, log *slog.Logger) error {
	if len(s.NftTables) == 0 {
		return nil
	}
	var errs []error
	var kept []NftTable
	for _, tbl := range s.NftTables {
		log.Info("removing nftables table", "family", tbl.Family, "table", tbl.Name)
		if err := deleteNftTable(tbl); err != nil {
			errs = append(errs, fmt.Errorf("removing nftables table %s %s: %w", tbl.Family, tbl.Name, err))
			kept = append(kept, tbl)
		}
	}
	s.NftTables = kept
	return errors.Join(errs...)
}

// deleteNftTable deletes tbl whether or not it (still) exists: adding it
// first in the same transaction makes the delete succeed either way.
func deleteNftTable(tbl NftTable) error {
	fam := nftables.TableFamilyIPv4
	switch tbl.Family {
	case "ip":
	case "ip6":
		fam = nftables.TableFamilyIPv6
	default:
		return fmt.Errorf("unknown nftables family %q", tbl.Family)
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: fam, Name: tbl.Name}
	c.AddTable(t)
	c.DelTable(t)
	return c.Flush()
}
