package hostcfg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/wgu-project/wgu/tunnel/config"
	"golang.org/x/sys/unix"
)

// testNetns runs functions on one OS thread that lives in a network
// namespace of its own, so that the tests never touch the host's.
type testNetns struct{ calls chan func() }

func newTestNetns(t *testing.T) *testNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace with links, routes and rules")
	}
	n := &testNetns{calls: make(chan func())}
	ready := make(chan error)
	go func() {
		// Never unlocked: when this goroutine ends, Go discards the thread,
		// and the namespace with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for f := range n.calls {
			f()
		}
	}()
	if err := <-ready; err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() { close(n.calls) })
	return n
}

// run calls f inside the namespace and fails the test on its error.
func (n *testNetns) run(t *testing.T, f func() error) {
	t.Helper()
	errc := make(chan error)
	n.calls <- func() { errc <- f() }
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// nsSnapshot describes everything Configure may touch in a namespace,
// one sorted line per fact, so that two snapshots compare as strings.
func nsSnapshot() (string, error) {
	var lines []string
	links, err := netlink.LinkList()
	if err != nil {
		return "", err
	}
	for _, l := range links {
		a := l.Attrs()
		lines = append(lines, fmt.Sprintf("link %s mtu %d up %v", a.Name, a.MTU, a.Flags&net.FlagUp != 0))
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		lines = append(lines, fmt.Sprintf("addr %s dev %d", a.IPNet, a.LinkIndex))
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return "", err
	}
	for _, r := range routes {
		lines = append(lines, fmt.Sprintf("route %v dev %d table %d type %d scope %d", r.Dst, r.LinkIndex, r.Table, r.Type, r.Scope))
	}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := netlink.RuleList(family)
		if err != nil {
			return "", err
		}
		for _, r := range rules {
			lines = append(lines, fmt.Sprintf("rule %d pref %d table %d mark %d invert %v suppress %d",
				family, r.Priority, r.Table, r.Mark, r.Invert, r.SuppressPrefixlen))
		}
	}
	svm, err := os.ReadFile(srcValidMarkPath)
	if err != nil {
		return "", err
	}
	lines = append(lines, "src_valid_mark "+strings.TrimSpace(string(svm)))
	redirects, err := os.ReadFile(sendRedirectsAllPath)
	if err != nil {
		return "", err
	}
	lines = append(lines, "send_redirects "+strings.TrimSpace(string(redirects)))
	if nft, err := exec.LookPath("nft"); err == nil {
		out, err := exec.Command(nft, "list", "ruleset").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("nft list ruleset: %w: %s", err, out)
		}
		lines = append(lines, "nft "+string(out))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n"), nil
}

func mustPrefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// hostFixture is a namespace with a down TUN "wgt0" standing in for
// wgu's, and an uplink TUN "upl0" (MTU 1400, 192.0.2.1/24) for the MTU rule.
// Both have a queue open, so that they have a carrier as wgu's TUN does.
type hostFixture struct {
	ns     *testNetns
	before string
}

func newHostFixture(t *testing.T) *hostFixture {
	t.Helper()
	f := &hostFixture{ns: newTestNetns(t)}
	f.ns.run(t, func() error {
		// Start from src_valid_mark 0 so that setting it is observable.
		if err := os.WriteFile(srcValidMarkPath, []byte("0\n"), 0o644); err != nil {
			return err
		}
		// Without DAD, IPv6 addresses (and their local routes) appear at
		// once rather than a moment later, in the middle of a snapshot.
		for _, conf := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/accept_dad", []byte("0\n"), 0o644); err != nil {
				return err
			}
		}
		if err := addTestTUN(t, "wgt0", 1500); err != nil {
			return err
		}
		if err := addTestTUN(t, "upl0", 1400); err != nil {
			return err
		}
		up, err := netlink.LinkByName("upl0")
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(up, netlinkAddr(netip.MustParsePrefix("192.0.2.1/24"))); err != nil {
			return err
		}
		// No link-local address on the uplink either: its local route
		// would appear some time after the link comes up.
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/upl0/addr_gen_mode", []byte("1\n"), 0o644); err != nil {
			return err
		}
		return netlink.LinkSetUp(up)
	})
	f.before = f.snapshot(t)
	return f
}

// addTestTUN creates a TUN in the calling thread's namespace, keeping its
// queue open until the test ends (the open queue also keeps the namespace
// alive, hence the cleanup).
func addTestTUN(t *testing.T, name string, mtu int) error {
	tun := &netlink.Tuntap{
		LinkAttrs:  netlink.LinkAttrs{Name: name, MTU: mtu},
		Mode:       netlink.TUNTAP_MODE_TUN,
		Flags:      netlink.TUNTAP_NO_PI,
		Queues:     1,
		NonPersist: true,
	}
	if err := netlink.LinkAdd(tun); err != nil {
		return fmt.Errorf("adding TUN %s: %w", name, err)
	}
	t.Cleanup(func() {
		for _, f := range tun.Fds {
			f.Close()
		}
	})
	// LinkAdd does not apply the MTU to a TUN.
	link, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetMTU(link, mtu)
}

func (f *hostFixture) snapshot(t *testing.T) string {
	t.Helper()
	var snap string
	f.ns.run(t, func() (err error) {
		snap, err = nsSnapshot()
		return err
	})
	return snap
}

// assertRestored checks that the namespace is exactly as it was before.
func (f *hostFixture) assertRestored(t *testing.T) {
	t.Helper()
	if after := f.snapshot(t); after != f.before {
		t.Errorf("namespace not restored.\nbefore:\n%s\nafter:\n%s", f.before, after)
	}
}

func (f *hostFixture) configure(t *testing.T, cfg *config.Config, endpoints []netip.Addr, setMark func(uint32) error) (*State, error) {
	t.Helper()
	if setMark == nil {
		setMark = func(uint32) error { return nil }
	}
	var st *State
	var cerr error
	f.ns.run(t, func() error {
		st, cerr = Configure(context.Background(), testLogger(t), Params{
			Interface: "wgt0", Config: cfg, EndpointAddrs: endpoints, SetFwMark: setMark, KillSwitch: true,
		})
		return nil
	})
	return st, cerr
}

func (f *hostFixture) undo(t *testing.T, st *State) {
	t.Helper()
	f.ns.run(t, func() error { return st.Undo(context.Background(), testLogger(t)) })
}

// routesOf lists "DST table T" for the routes through wgt0 that were not
// made by the kernel for an address.
func (f *hostFixture) routesOf(t *testing.T) []string {
	t.Helper()
	var out []string
	f.ns.run(t, func() error {
		link, err := netlink.LinkByName("wgt0")
		if err != nil {
			return err
		}
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL,
			&netlink.Route{LinkIndex: link.Attrs().Index}, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Protocol == unix.RTPROT_KERNEL || r.Table == unix.RT_TABLE_LOCAL || r.Dst != nil && r.Dst.IP.IsLinkLocalUnicast() {
				continue
			}
			out = append(out, fmt.Sprintf("%v table %d", r.Dst, r.Table))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// linkFacts reports wgt0's MTU, whether it is up, and its addresses.
func (f *hostFixture) linkFacts(t *testing.T) (mtu int, up bool, addrs []string) {
	t.Helper()
	f.ns.run(t, func() error {
		link, err := netlink.LinkByName("wgt0")
		if err != nil {
			return err
		}
		mtu, up = link.Attrs().MTU, link.Attrs().Flags&net.FlagUp != 0
		list, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range list {
			if !a.IP.IsLinkLocalUnicast() {
				addrs = append(addrs, a.IPNet.String())
			}
		}
		return nil
	})
	slices.Sort(addrs)
	return mtu, up, addrs
}

func TestConfigureHostRoutes(t *testing.T) {
	peer := func(allowed ...string) config.Peer { return config.Peer{AllowedIPs: mustPrefixes(t, allowed...)} }
	tests := []struct {
		name       string
		table      string
		peers      []config.Peer
		wantRoutes []string
	}{
		{
			name:  "plain",
			peers: []config.Peer{peer("10.9.0.0/24", "10.9.0.7/32", "192.168.77.0/24"), peer("fd00:9::/64", "fd00:aa::/48", "192.168.77.0/24")},
			// 10.9.0.0/24 and 10.9.0.7/32 are covered by the address's own
			// route, and fd00:9::/64 by the IPv6 one; the duplicate is added once.
			wantRoutes: []string{"192.168.77.0/24 table 254", "fd00:aa::/48 table 254"},
		},
		{
			name:  "auto",
			table: "auto",
			peers: []config.Peer{peer("192.168.78.5/32")},
			// Host bits are masked, as wg does with AllowedIPs.
			wantRoutes: []string{"192.168.78.5/32 table 254"},
		},
		{
			name:       "off",
			table:      "off",
			peers:      []config.Peer{peer("192.168.77.0/24", "0.0.0.0/0")},
			wantRoutes: nil,
		},
		{
			name:  "numeric table",
			table: "1234",
			peers: []config.Peer{peer("10.9.0.0/24", "0.0.0.0/0", "::/0")},
			wantRoutes: []string{
				"0.0.0.0/0 table 1234", "10.9.0.0/24 table 1234", "::/0 table 1234",
			},
		},
		{
			name:       "main by name",
			table:      "main",
			peers:      []config.Peer{peer("0.0.0.0/0")},
			wantRoutes: []string{"0.0.0.0/0 table 254"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHostFixture(t)
			cfg := &config.Config{Name: "wgt0", Interface: config.Interface{
				Addresses: mustPrefixes(t, "10.9.0.1/24", "fd00:9::1/64"),
				Table:     tt.table,
			}, Peers: tt.peers}
			st, err := f.configure(t, cfg, nil, func(uint32) error {
				return errors.New("no fwmark expected without Table=auto")
			})
			if err != nil {
				t.Fatal(err)
			}
			mtu, up, addrs := f.linkFacts(t)
			if mtu != 1420 || !up {
				t.Errorf("wgt0: mtu %d up %v, want 1420 up", mtu, up)
			}
			if want := []string{"10.9.0.1/24", "fd00:9::1/64"}; !slices.Equal(addrs, want) {
				t.Errorf("addresses %v, want %v", addrs, want)
			}
			if got := f.routesOf(t); !slices.Equal(got, tt.wantRoutes) {
				t.Errorf("routes %q, want %q", got, tt.wantRoutes)
			}
			if len(st.Rules) != 0 || len(st.NftTables) != 0 || st.SrcValidMarkChanged || st.FwMark != 0 {
				t.Errorf("policy routing without a default route in Table=auto: %+v", st)
			}
			f.undo(t, st)
			f.assertRestored(t)
		})
	}
}

func TestConfigureHostFullTunnel(t *testing.T) {
	f := newHostFixture(t)
	// A route already in table 51820 makes wg-quick's search move on to 51821.
	f.ns.run(t, func() error {
		up, err := netlink.LinkByName("upl0")
		if err != nil {
			return err
		}
		return netlink.RouteAdd(netlinkRoute(up.Attrs().Index, netip.MustParsePrefix("203.0.113.0/24"), 51820))
	})
	f.before = f.snapshot(t)

	cfg := &config.Config{Name: "wgt0", Interface: config.Interface{Addresses: mustPrefixes(t, "10.9.0.2/32", "fd00:9::2/128")},
		Peers: []config.Peer{{AllowedIPs: mustPrefixes(t, "0.0.0.0/0", "::/0")}}}
	var marks []uint32
	st, err := f.configure(t, cfg, nil, func(m uint32) error { marks = append(marks, m); return nil })
	if err != nil {
		t.Fatal(err)
	}
	const table = 51821
	if !slices.Equal(marks, []uint32{table}) || st.FwMark != table {
		t.Errorf("fwmark set to %v (state %d), want [%d]", marks, st.FwMark, table)
	}
	want := []string{"0.0.0.0/0 table 51821", "::/0 table 51821"}
	if got := f.routesOf(t); !slices.Equal(got, want) {
		t.Errorf("routes %q, want %q", got, want)
	}
	f.ns.run(t, func() error {
		for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			rules, err := netlink.RuleList(family)
			if err != nil {
				return err
			}
			var notMark, suppress bool
			for _, r := range rules {
				notMark = notMark || r.Table == table && r.Mark == table && r.Invert
				suppress = suppress || r.Table == unix.RT_TABLE_MAIN && r.SuppressPrefixlen == 0
			}
			if !notMark || !suppress {
				t.Errorf("family %d: rules %v: not fwmark rule %v, suppress_prefixlength rule %v", family, rules, notMark, suppress)
			}
		}
		if b, err := os.ReadFile(srcValidMarkPath); err != nil || strings.TrimSpace(string(b)) != "1" {
			t.Errorf("src_valid_mark = %q, %v; want 1", b, err)
		}
		return nil
	})
	for _, r := range st.Rules {
		if r.Priority == 0 {
			t.Errorf("rule %s recorded without its priority", r)
		}
	}
	if !st.SrcValidMarkChanged || st.SrcValidMarkOld != "0" {
		t.Errorf("src_valid_mark record: changed %v old %q", st.SrcValidMarkChanged, st.SrcValidMarkOld)
	}
	if _, err := exec.LookPath("nft"); err == nil {
		f.ns.run(t, func() error {
			for _, fam := range []string{"ip", "ip6"} {
				out, err := exec.Command("nft", "list", "table", fam, "wgu-wgt0").CombinedOutput()
				if err != nil {
					return fmt.Errorf("nft list table %s wgu-wgt0: %w: %s", fam, err, out)
				}
				for _, want := range []string{`iifname != "wgt0"`, "fib saddr type != local drop", "ct mark set meta mark", "meta mark set ct mark", "mark 0x0000ca6d"} {
					if !strings.Contains(string(out), want) {
						t.Errorf("nft table %s lacks %q:\n%s", fam, want, out)
					}
				}
			}
			return nil
		})
		if len(st.NftTables) != 2 {
			t.Errorf("nft tables recorded: %v", st.NftTables)
		}
	}

	// Undo as `wgu down` would after a crash: from the JSON state file.
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var saved State
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	f.undo(t, &saved)
	f.assertRestored(t)
	// The original state again: everything is already gone.
	f.undo(t, st)
	f.undo(t, st)
	f.assertRestored(t)
}

// TestUndoAfterLinkGone is the crash case: the TUN died with its process,
// taking its addresses and routes; rules, nftables and sysctl remain.
func TestUndoAfterLinkGone(t *testing.T) {
	f := newHostFixture(t)
	cfg := &config.Config{Name: "wgt0", Interface: config.Interface{Addresses: mustPrefixes(t, "10.9.0.2/32"), FwMark: 4242},
		Peers: []config.Peer{{AllowedIPs: mustPrefixes(t, "0.0.0.0/0", "10.10.0.0/16")}}}
	st, err := f.configure(t, cfg, nil, func(uint32) error { return errors.New("FwMark is set: must not be called") })
	if err != nil {
		t.Fatal(err)
	}
	if st.FwMark != 4242 {
		t.Errorf("fwmark %d, want the config's 4242", st.FwMark)
	}
	f.ns.run(t, func() error {
		link, err := netlink.LinkByName("wgt0")
		if err != nil {
			return err
		}
		if err := netlink.LinkDel(link); err != nil {
			return err
		}
		// A new link of the same name must not be mistaken for the old one.
		return addTestTUN(t, "wgt0", 1500)
	})
	f.undo(t, st)
	f.assertRestored(t)
}

// TestConfigureHostTakesOverCrashed is a restart after a crash: the new
// Configure takes over the dead process's rules, kill switch, nftables
// tables and sysctls instead of adding them again, and the two states'
// Undo restore the namespace.
func TestConfigureHostTakesOverCrashed(t *testing.T) {
	f := newHostFixture(t)
	cfg := &config.Config{Name: "wgt0", Interface: config.Interface{Addresses: mustPrefixes(t, "10.9.0.2/32", "fd00:9::2/128")},
		Peers: []config.Peer{{AllowedIPs: mustPrefixes(t, "0.0.0.0/0", "::/0")}}}
	first, err := f.configure(t, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.KillSwitch) != 2 || !first.SendRedirectsChanged {
		t.Fatalf("first state: kill switch %v, send_redirects changed %v", first.KillSwitch, first.SendRedirectsChanged)
	}
	var dead State // as the next process reads it from the state file
	if b, err := json.Marshal(first); err != nil || json.Unmarshal(b, &dead) != nil {
		t.Fatalf("state round trip: %v", err)
	}
	f.ns.run(t, func() error {
		link, err := netlink.LinkByName("wgt0")
		if err != nil {
			return err
		}
		if err := netlink.LinkDel(link); err != nil {
			return err
		}
		// With the link gone, table 51820 holds only the kill switch.
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: defaultPolicyTable}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		if len(routes) != 2 || routes[0].Type != unix.RTN_UNREACHABLE || routes[1].Type != unix.RTN_UNREACHABLE {
			t.Errorf("table %d after the link died: %v, want the two unreachable defaults", defaultPolicyTable, routes)
		}
		return addTestTUN(t, "wgt0", 1500)
	})
	dead.Routes, dead.Addresses, dead.MTUBefore, dead.BroughtUp = nil, nil, 0, false

	var second *State
	f.ns.run(t, func() (err error) {
		second, err = Configure(context.Background(), testLogger(t), Params{
			Interface: "wgt0", Config: cfg, SetFwMark: func(uint32) error { return nil }, KillSwitch: true, Previous: &dead,
		})
		return err
	})
	if second.FwMark != first.FwMark {
		t.Errorf("fwmark %d after the restart, want the dead process's %d", second.FwMark, first.FwMark)
	}
	f.ns.run(t, func() error {
		for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			rules, err := netlink.RuleList(family)
			if err != nil {
				return err
			}
			var notMark, suppress int
			for _, r := range rules {
				if r.Table == int(first.FwMark) && r.Invert {
					notMark++
				}
				if r.Table == unix.RT_TABLE_MAIN && r.SuppressPrefixlen == 0 {
					suppress++
				}
			}
			if notMark != 1 || suppress != 1 {
				t.Errorf("family %d after the restart: %d not-fwmark and %d suppress rules, want 1 each", family, notMark, suppress)
			}
		}
		return nil
	})
	if len(dead.Rules)+len(dead.KillSwitch)+len(dead.NftTables) != 0 || dead.SrcValidMarkChanged || dead.SendRedirectsChanged {
		t.Errorf("left to the dead process's undo: %+v", dead)
	}
	if !second.SrcValidMarkChanged || second.SrcValidMarkOld != "0" || !second.SendRedirectsChanged || second.SendRedirectsOld != "1" {
		t.Errorf("sysctl records not taken over: %+v", second)
	}
	f.undo(t, &dead)
	f.undo(t, second)
	f.assertRestored(t)
}

func TestConfigureHostMTU(t *testing.T) {
	tests := []struct {
		name         string
		mtu          int
		endpoints    []string
		defaultRoute bool
		want         int
	}{
		{name: "configured", mtu: 1300, endpoints: []string{"192.0.2.9"}, want: 1300},
		{name: "endpoint link", endpoints: []string{"192.0.2.9"}, want: 1320},
		// The smallest wins; a route's own mtu beats its link's.
		{name: "smallest endpoint route", endpoints: []string{"192.0.2.9", "198.51.100.5", "fe80::1%upl0"}, want: 1220},
		{name: "default route", defaultRoute: true, want: 1270},
		{name: "unreachable endpoint, default route", endpoints: []string{"100.64.0.1", "fe80::1%upl0"}, defaultRoute: true, want: 1270},
		{name: "nothing known", endpoints: []string{"100.64.0.1"}, want: 1420},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHostFixture(t)
			f.ns.run(t, func() error {
				up, err := netlink.LinkByName("upl0")
				if err != nil {
					return err
				}
				r := netlinkRoute(up.Attrs().Index, netip.MustParsePrefix("198.51.100.0/24"), unix.RT_TABLE_MAIN)
				r.MTU = 1300
				if err := netlink.RouteAdd(r); err != nil {
					return err
				}
				if tt.defaultRoute {
					return netlink.RouteAdd(&netlink.Route{LinkIndex: up.Attrs().Index, Gw: net.ParseIP("192.0.2.254"), MTU: 1350})
				}
				return nil
			})
			f.before = f.snapshot(t)
			var eps []netip.Addr
			for _, e := range tt.endpoints {
				eps = append(eps, netip.MustParseAddr(e))
			}
			cfg := &config.Config{Name: "wgt0", Interface: config.Interface{MTU: tt.mtu}}
			st, err := f.configure(t, cfg, eps, nil)
			if err != nil {
				t.Fatal(err)
			}
			if mtu, _, _ := f.linkFacts(t); mtu != tt.want {
				t.Errorf("MTU %d, want %d", mtu, tt.want)
			}
			f.undo(t, st)
			f.assertRestored(t)
		})
	}
}

func TestConfigureHostDNS(t *testing.T) {
	f := newHostFixture(t)
	// A fake resolvconf: the real one would change the host's resolv.conf.
	dir := t.TempDir()
	logPath := filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"args: $*\" >> " + logPath + "\ncat >> " + logPath + "\n"
	if err := os.WriteFile(filepath.Join(dir, "resolvconf"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))

	cfg := &config.Config{Name: "wgt0", Interface: config.Interface{
		DNS:       []netip.Addr{netip.MustParseAddr("10.9.0.53"), netip.MustParseAddr("fd00:9::53")},
		DNSSearch: []string{"example.com", "corp.local"},
	}}
	st, err := f.configure(t, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	name := resolvconfPrefix(filepath.Join(dir, "resolvconf")) + "wgt0"
	if st.Resolvconf != name {
		t.Errorf("resolvconf name %q, want %q", st.Resolvconf, name)
	}
	f.undo(t, st)
	got, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "args: -a " + name + " -m 0 -x\n" +
		"nameserver 10.9.0.53\nnameserver fd00:9::53\nsearch example.com corp.local\n" +
		"args: -d " + name + " -f\n"
	if string(got) != want {
		t.Errorf("resolvconf calls:\n%s\nwant:\n%s", got, want)
	}
	f.assertRestored(t)

	// Search domains alone are ignored, as wg-quick does.
	cfg.Interface.DNS = nil
	if st, err = f.configure(t, cfg, nil, nil); err != nil {
		t.Fatal(err)
	}
	if st.Resolvconf != "" {
		t.Errorf("resolvconf called without a nameserver")
	}
	f.undo(t, st)
}

// TestConfigureHostFailureLeavesNothing makes each late step fail and checks
// that nothing done before it remains.
func TestConfigureHostFailureLeavesNothing(t *testing.T) {
	full := config.Peer{AllowedIPs: mustPrefixes(t, "192.168.77.0/24", "::/0", "0.0.0.0/0")}
	tests := []struct {
		name    string
		cfg     config.Interface
		peers   []config.Peer
		setMark func(uint32) error
		prepare func() error
		wantErr string
	}{
		{
			name:    "fwmark",
			cfg:     config.Interface{Addresses: mustPrefixes(t, "10.9.0.2/32"), MTU: 1300},
			peers:   []config.Peer{full},
			setMark: func(uint32) error { return errors.New("refused") },
			wantErr: "refused",
		},
		{
			name:  "route exists",
			cfg:   config.Interface{Addresses: mustPrefixes(t, "10.9.0.2/32"), Table: "1234"},
			peers: []config.Peer{full},
			prepare: func() error {
				up, err := netlink.LinkByName("upl0")
				if err != nil {
					return err
				}
				// The last route Configure would add is already there.
				return netlink.RouteAdd(&netlink.Route{LinkIndex: up.Attrs().Index, Table: 1234,
					Dst: prefixToIPNet(netip.MustParsePrefix("0.0.0.0/0")), Scope: netlink.SCOPE_LINK})
			},
			wantErr: "adding route 0.0.0.0/0",
		},
		{
			name:    "unknown table name",
			cfg:     config.Interface{Addresses: mustPrefixes(t, "10.9.0.2/32"), Table: "no-such-table"},
			peers:   []config.Peer{full},
			wantErr: "no-such-table",
		},
		{
			name:    "duplicate address",
			cfg:     config.Interface{Addresses: mustPrefixes(t, "10.9.0.2/32", "fd00:9::2/128", "10.9.0.2/32")},
			wantErr: "adding address 10.9.0.2/32",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHostFixture(t)
			if tt.prepare != nil {
				f.ns.run(t, tt.prepare)
				f.before = f.snapshot(t)
			}
			st, err := f.configure(t, &config.Config{Name: "wgt0", Interface: tt.cfg, Peers: tt.peers}, nil, tt.setMark)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Configure = %+v, %v; want an error about %q", st, err, tt.wantErr)
			}
			if st != nil {
				t.Errorf("state returned with an error: %+v", st)
			}
			t.Log(err)
			f.assertRestored(t)
		})
	}
}

func TestHostStateNilUndo(t *testing.T) {
	var s *State
	if err := s.Undo(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestAllowedPrefixesOrder(t *testing.T) {
	cfg := &config.Config{Peers: []config.Peer{
		{AllowedIPs: mustPrefixes(t, "0.0.0.0/0", "10.0.0.1/24", "fd00::/64")},
		{AllowedIPs: mustPrefixes(t, "::/0", "10.0.0.0/24", "10.1.2.3/32")},
	}}
	var got []string
	for _, p := range AllowedPrefixes(cfg) {
		got = append(got, p.String())
	}
	want := []string{"fd00::/64", "10.1.2.3/32", "10.0.0.0/24", "::/0", "0.0.0.0/0"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestNftTableName(t *testing.T) {
	for in, want := range map[string]string{"wg0": "wgu-wg0", "a=b+c.d-e_f": "wgu-a_b_c.d-e_f"} {
		if got := nftTableName(in); got != want {
			t.Errorf("nftTableName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConfigureHostWithoutTools: without nft and resolvconf the tunnel still
// comes up (with warnings), and nothing is recorded for them.
func TestConfigureHostWithoutTools(t *testing.T) {
	f := newHostFixture(t)
	nft, nftErr := exec.LookPath("nft") // found before PATH is emptied
	path := os.Getenv("PATH")
	t.Setenv("PATH", t.TempDir())
	cfg := &config.Config{Name: "wgt0", Interface: config.Interface{
		Addresses: mustPrefixes(t, "10.9.0.2/32"),
		DNS:       []netip.Addr{netip.MustParseAddr("10.9.0.53")},
	}, Peers: []config.Peer{{AllowedIPs: mustPrefixes(t, "0.0.0.0/0")}}}
	st, err := f.configure(t, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Resolvconf != "" {
		t.Errorf("recorded resolvconf, which is not there: %+v", st)
	}
	if len(st.Rules) != 2 || len(st.Routes) != 1 || !st.SrcValidMarkChanged {
		t.Errorf("policy routing incomplete without tools: %+v", st)
	}
	// nftables is spoken to over netlink: no nft command needed.
	if want := []NftTable{{Family: "ip", Name: "wgu-wgt0"}}; !slices.Equal(st.NftTables, want) {
		t.Errorf("nft tables recorded %v, want %v", st.NftTables, want)
	}
	if nftErr == nil {
		f.ns.run(t, func() error {
			out, err := exec.Command(nft, "list", "tables").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "table ip wgu-wgt0" {
				return fmt.Errorf("nft list tables: %s (%v), want the table ip wgu-wgt0", out, err)
			}
			return nil
		})
	}
	f.undo(t, st)
	t.Setenv("PATH", path) // for the snapshot's nft
	f.assertRestored(t)
}

// nftReferenceScript is the nft input wgu used before it spoke netlink to
// nf_tables itself (and wg-quick's rules under wgu's table name): the
// table built with the library must list exactly as this one does.
func nftReferenceScript(tbl NftTable, iface string, local []netip.Addr, mark uint32) string {
	var b strings.Builder
	t := tbl.Family + " " + tbl.Name
	fmt.Fprintf(&b, "add table %s\n", t)
	fmt.Fprintf(&b, "add chain %s preraw { type filter hook prerouting priority -300; }\n", t)
	fmt.Fprintf(&b, "add chain %s premangle { type filter hook prerouting priority -150; }\n", t)
	fmt.Fprintf(&b, "add chain %s postmangle { type filter hook postrouting priority -150; }\n", t)
	for _, a := range local {
		fmt.Fprintf(&b, "add rule %s preraw iifname != %q %s daddr %s fib saddr type != local drop\n", t, iface, tbl.Family, a)
	}
	fmt.Fprintf(&b, "add rule %s postmangle meta l4proto udp mark %d ct mark set mark\n", t, mark)
	fmt.Fprintf(&b, "add rule %s premangle meta l4proto udp meta mark set ct mark\n", t)
	return b.String()
}

func TestNftTableListsLikeNftScript(t *testing.T) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("needs the nft command to compare with")
	}
	ns := newTestNetns(t)
	tables := []struct {
		tbl   NftTable
		local []netip.Addr
	}{
		{NftTable{"ip", "wgu-wg_0.x"}, []netip.Addr{netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("192.168.4.1")}},
		{NftTable{"ip6", "wgu-wg_0.x"}, []netip.Addr{netip.MustParseAddr("fd00:9::2")}},
	}
	const iface, mark = "wg+0.x", 51821
	list := func() (out string) {
		ns.run(t, func() error {
			b, err := exec.Command(nft, "list", "ruleset").CombinedOutput()
			out = string(b)
			return err
		})
		return out
	}
	ns.run(t, func() error {
		for _, tc := range tables {
			cmd := exec.Command(nft, "-f", "-")
			cmd.Stdin = strings.NewReader(nftReferenceScript(tc.tbl, iface, tc.local, mark))
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("nft -f: %w: %s", err, out)
			}
		}
		return nil
	})
	want := list()
	if !strings.Contains(want, "fib saddr type != local drop") {
		t.Fatalf("nft -f made no rules:\n%s", want)
	}
	ns.run(t, func() error {
		for _, tc := range tables {
			if err := deleteNftTable(tc.tbl); err != nil {
				return err
			}
		}
		return nil
	})
	if got := list(); strings.TrimSpace(got) != "" {
		t.Fatalf("deleteNftTable left:\n%s", got)
	}
	// Twice: the second transaction replaces the first table.
	for range 2 {
		ns.run(t, func() error {
			for _, tc := range tables {
				c, err := nftables.New()
				if err != nil {
					return err
				}
				buildNftTable(c, tc.tbl, iface, tc.local, mark)
				if err := c.Flush(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if got := list(); got != want {
		t.Errorf("library-built tables:\n%s\nnft-built tables:\n%s", got, want)
	}
	ns.run(t, func() error {
		for _, tc := range tables {
			if err := deleteNftTable(tc.tbl); err != nil {
				return err
			}
		}
		// Deleting what is gone is no error.
		return deleteNftTable(tables[0].tbl)
	})
}

// Undo never deletes a rule wgu does not add, whatever the record holds: a
// recorded "table main" without its suppress_prefixlength would match the
// host's own "from all lookup main" rule.
func TestUndoKeepsTheMainRule(t *testing.T) {
	ns := newTestNetns(t)
	var before, after []netlink.Rule
	var undoErr error
	ns.run(t, func() error {
		var err error
		if before, err = netlink.RuleList(netlink.FAMILY_V4); err != nil {
			return err
		}
		st := &State{FwMark: 51820, Rules: []Rule{{Family: "inet", Table: unix.RT_TABLE_MAIN}}}
		undoErr = st.removeRules(slog.New(slog.DiscardHandler))
		after, err = netlink.RuleList(netlink.FAMILY_V4)
		return err
	})
	if undoErr == nil {
		t.Error("removeRules accepted a bare table main rule")
	}
	if len(after) != len(before) {
		t.Fatalf("rules before: %v\nafter: %v", before, after)
	}
}
