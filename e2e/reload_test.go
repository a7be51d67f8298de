package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitWgShow polls `wg show IFACE FIELD` in ns until cond holds.
func waitWgShow(ctx context.Context, t *testing.T, ns *Netns, iface, field string, cond func(string) bool) string {
	t.Helper()
	var out string
	err := waitFor(ctx, "wg show "+iface+" "+field, func() bool {
		out, _, _ = ns.Run(ctx, "wg", "show", iface, field)
		return cond(out)
	})
	if err != nil {
		t.Fatalf("%v; last output:\n%s%s", err, out, daemonLog(iface))
	}
	return out
}

func TestReloadLive(t *testing.T) {
	s := newSeedLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	keyB, keyC, keyD := newKeyPair(t), newKeyPair(t), newKeyPair(t)
	// Peer C (to be removed) routes a subnet outside the hub's Address, so
	// the hub has a route for it.
	peerC := fmt.Sprintf("\n[Peer]\n# C\nPublicKey = %s\nAllowedIPs = 10.88.0.0/24\n", keyC.Public)
	writeConfig(t, s.dir, s.hubIf, s.hubConfig(peerC))
	s.up(ctx, t)
	if routes := s.hub.MustRun("ip", "route", "show", "dev", s.hubIf); !strings.Contains(routes, "10.88.0.0/24") {
		t.Fatalf("no route for peer C's AllowedIPs:\n%s", routes)
	}
	endpointOfA := func() string {
		return outputLine(s.hub.MustRun("wg", "show", s.hubIf, "endpoints"), s.homeKey.Public)
	}
	endpointBefore := endpointOfA()

	// A stream of about four seconds from the home lab (peer A) to the hub.
	stream := startTransfer(t, ctx, s.homelab, s.hub, netip.AddrPortFrom(hubWG, 5003).String(), 8<<20, 30*time.Millisecond)
	if err := waitFor(ctx, "the stream to connect", func() bool {
		return outputLine(stream.sink.Stdout(), "peer ") != ""
	}); err != nil {
		t.Fatal(err)
	}

	// Edit the file: A gets a keepalive, B (with a subnet of its own) comes,
	// C goes, and the interface gets a second address.
	next := strings.Replace(s.hubConfig(fmt.Sprintf("PersistentKeepalive = 17\n\n[Peer]\n# B\nPublicKey = %s\nAllowedIPs = 10.77.0.0/24\n", keyB.Public)),
		"Address = "+hubWG.String()+"/24\n", "Address = "+hubWG.String()+"/24, 10.99.0.1/24\n", 1)
	writeConfig(t, s.dir, s.hubIf, next)
	mustWgu(ctx, t, s.hub, "reload", s.hubIf)
	select {
	case <-stream.source.Done():
		t.Error("the stream ended before the reload was done: the test did not overlap them")
	default:
	}

	peers := s.hub.MustRun("wg", "show", s.hubIf, "peers")
	if !strings.Contains(peers, s.homeKey.Public) || !strings.Contains(peers, keyB.Public) || strings.Contains(peers, keyC.Public) {
		t.Errorf("after reload, peers are:\n%s\nwant A and B, not C", peers)
	}
	if ka := s.hub.MustRun("wg", "show", s.hubIf, "persistent-keepalive"); !strings.Contains(ka, s.homeKey.Public+"\t17") {
		t.Errorf("after reload, keepalives are:\n%s\nwant A at 17", ka)
	}
	routes := s.hub.MustRun("ip", "route", "show", "dev", s.hubIf)
	if !strings.Contains(routes, "10.77.0.0/24") || strings.Contains(routes, "10.88.0.0/24") {
		t.Errorf("after reload, routes via %s:\n%s\nwant 10.77.0.0/24 and not 10.88.0.0/24", s.hubIf, routes)
	}
	if addrs := s.hub.MustRun("ip", "addr", "show", "dev", s.hubIf); !strings.Contains(addrs, "10.99.0.1/24") {
		t.Errorf("after reload, the second address is missing:\n%s", addrs)
	}
	if err := stream.check(ctx); err != nil {
		t.Fatalf("stream across the reload: %v%s", err, daemonLog(s.hubIf))
	}
	// A was updated in place: the endpoint learned from its handshake stayed.
	if eps := endpointOfA(); eps != endpointBefore {
		t.Errorf("A's endpoint changed across the reload: %q -> %q", endpointBefore, eps)
	}

	// SIGHUP to the daemon does the same.
	writeConfig(t, s.dir, s.hubIf, strings.Replace(next, "PersistentKeepalive = 17", "PersistentKeepalive = 19", 1))
	if err := syscall.Kill(daemonPID(ctx, t, s.hub, s.hubIf), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitWgShow(ctx, t, s.hub, s.hubIf, "persistent-keepalive", func(out string) bool {
		return strings.Contains(out, s.homeKey.Public+"\t19")
	})

	// A change that needs a restart is refused, and the tunnel keeps running.
	writeConfig(t, s.dir, s.hubIf, strings.Replace(next, "ListenPort", "MTU = 1300\nListenPort", 1))
	if out, errOut, err := wgu(ctx, t, s.hub, "reload", s.hubIf); err == nil || !strings.Contains(errOut, "MTU") {
		t.Errorf("reload of an MTU change: err %v, stdout %q, stderr %q; want an error naming MTU", err, out, errOut)
	}
	if err := s.homelab.Ping(ctx, hubWG); err != nil {
		t.Fatalf("after a refused reload: %v", err)
	}

	// wgu set and syncconf speak UAPI like wg: add D at run time, then sync
	// back to the file, which removes D and keeps A's session.
	mustWgu(ctx, t, s.hub, "set", s.hubIf, "peer", keyD.Public, "allowed-ips", "10.66.0.0/24,10.66.1.0/24", "persistent-keepalive", "off")
	if ips := s.hub.MustRun("wg", "show", s.hubIf, "allowed-ips"); !strings.Contains(ips, keyD.Public+"\t10.66.0.0/24 10.66.1.0/24") {
		t.Errorf("after wgu set, allowed-ips:\n%s", ips)
	}
	writeConfig(t, s.dir, s.hubIf, next)
	stripped := filepath.Join(s.dir, "stripped.conf")
	if err := os.WriteFile(stripped, []byte(mustWgu(ctx, t, s.hub, "strip", s.hubConf)), 0o600); err != nil {
		t.Fatal(err)
	}
	mustWgu(ctx, t, s.hub, "syncconf", s.hubIf, stripped)
	if peers := s.hub.MustRun("wg", "show", s.hubIf, "peers"); strings.Contains(peers, keyD.Public) || !strings.Contains(peers, keyB.Public) {
		t.Errorf("after wgu syncconf, peers:\n%s", peers)
	}
	if err := s.homelab.Ping(ctx, hubWG); err != nil {
		t.Fatalf("after syncconf: %v", err)
	}
}

func TestDDNSFollowsMovedHub(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	hub, spoke := lab.Netns("hub"), lab.Netns("spoke")
	link := lab.Link(hub, spoke, hubPublic, netip.MustParsePrefix("172.31.0.2/24"))
	moved := netip.MustParsePrefix("172.31.0.7/24")

	// The spoke resolves the hub's name through its namespace's hosts file,
	// which `ip netns exec` mounts over /etc/hosts.
	const hubName = "hub.wgu-ddns.test"
	hostsDir := filepath.Join("/etc/netns", spoke.Name)
	if err := os.MkdirAll(hostsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(hostsDir) })
	hosts := filepath.Join(hostsDir, "hosts")
	writeHosts := func(addr netip.Addr) {
		t.Helper()
		// Rewritten in place: the bind mount holds the inode.
		if err := os.WriteFile(hosts, []byte(fmt.Sprintf("127.0.0.1 localhost\n%s %s\n", addr, hubName)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeHosts(hubPublic.Addr())

	hubIf, spokeIf := lab.IfName("hub"), lab.IfName("spoke")
	hubKey, spokeKey := newKeyPair(t), newKeyPair(t)
	hubConf := writeConfig(t, dir, hubIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d

[Peer]
PublicKey = %s
AllowedIPs = %s/32
`, hubKey.Private, hubWG, hubPort, spokeKey.Public, homelabWG))
	spokeConf := writeConfig(t, dir, spokeIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
PersistentKeepalive = 1
AllowedIPs = 10.0.0.0/24
`, spokeKey.Private, homelabWG, hubKey.Public, hubName, hubPort))

	wguUp(ctx, t, hub, hubConf)
	// The spoke checks every second and re-resolves once its handshake is
	// three seconds old (instead of 10 s and 135 s).
	// At LOG_LEVEL=debug it also logs the lookups that find the address unchanged.
	if out, errOut, err := spoke.Run(ctx, "env", "WGU_DDNS_INTERVAL=1s", "WGU_DDNS_STALE=3s", "LOG_LEVEL=debug",
		wguBinary(t), "up", "-c", spokeConf); err != nil {
		t.Fatalf("wgu up: %v\n%s%s", err, out, errOut)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if out, errOut, err := wgu(ctx, t, spoke, "down", spokeIf); err != nil {
			t.Logf("cleanup: wgu down %s: %v\n%s%s", spokeIf, err, out, errOut)
		}
	})
	if err := spoke.Ping(ctx, hubWG); err != nil {
		t.Fatalf("%v%s%s", err, daemonLog(spokeIf), daemonLog(hubIf))
	}

	// The hub's public address changes; its name does not follow yet.
	// (Deleting a primary address takes its subnet's secondaries along.)
	hub.MustRun("ip", "addr", "del", hubPublic.String(), "dev", link.AIf)
	hub.MustRun("ip", "addr", "add", moved.String(), "dev", link.AIf)
	if _, _, err := spoke.Run(ctx, "ping", "-n", "-c", "1", "-W", "1", hubWG.String()); err == nil {
		t.Fatal("the spoke still reaches the hub at its old address: the test moved nothing")
	}
	// Once the handshake is stale, lookups return the old address: the spoke
	// must keep looking, not settle on it. Wait for one such lookup.
	const unchanged = "endpoint re-resolved, address unchanged"
	lookupsBefore := strings.Count(daemonLog(spokeIf), unchanged)
	if err := waitFor(ctx, "a lookup that returns the old address", func() bool {
		return strings.Count(daemonLog(spokeIf), unchanged) > lookupsBefore
	}); err != nil {
		t.Fatalf("%v%s", err, daemonLog(spokeIf))
	}
	writeHosts(moved.Addr())
	start := time.Now()
	if err := spoke.Ping(ctx, hubWG); err != nil {
		t.Fatalf("the spoke did not follow the hub's new address: %v%s%s", err, daemonLog(spokeIf), daemonLog(hubIf))
	}
	t.Logf("recovered %v after the name changed", time.Since(start).Round(100*time.Millisecond))
	waitWgShow(ctx, t, spoke, spokeIf, "endpoints", func(out string) bool {
		return strings.Contains(out, moved.Addr().String()+":"+fmt.Sprint(hubPort))
	})
	if log := daemonLog(spokeIf); !strings.Contains(log, "endpoint address changed") {
		t.Errorf("the spoke's log does not report the change:%s", log)
	}
}
