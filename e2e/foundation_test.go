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

// testTimeout bounds every end-to-end test.
const testTimeout = 60 * time.Second

func TestPingAndTransfer(t *testing.T) {
	s := newSeedLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	wguUp(ctx, t, s.hub, s.hubConf)
	if got := strings.TrimSpace(s.hub.MustRun("sysctl", "-n", "net.ipv4.ip_forward")); got != "1" {
		t.Errorf("hub ip_forward = %q after PostUp, want 1", got)
	}
	// The hub cannot know where the home lab is before it calls.
	if _, _, err := s.hub.Run(ctx, "ping", "-n", "-c", "1", "-W", "1", homelabWG.String()); err == nil {
		t.Error("hub reached the home lab before the home lab connected")
	}
	wguUp(ctx, t, s.homelab, s.homeConf)
	if err := s.homelab.Ping(ctx, hubWG); err != nil {
		t.Fatalf("%v%s%s", err, daemonLog(s.hubIf), daemonLog(s.homeIf))
	}
	// The hub learned the home lab's endpoint: the NAT router's address.
	eps := s.hub.MustRun("wg", "show", s.hubIf, "endpoints")
	if !strings.Contains(eps, s.homeKey.Public+"\t"+routerWAN.Addr().String()+":") {
		t.Errorf("hub endpoints = %q, want the home lab at the router's address %s", eps, routerWAN.Addr())
	}
	if err := s.hub.Ping(ctx, homelabWG); err != nil {
		t.Fatal(err)
	}
	const size = 8 << 20
	mustTransfer(t, ctx, s.homelab, s.hub, netip.AddrPortFrom(hubWG, 5001).String(), size)
	mustTransfer(t, ctx, s.hub, s.homelab, netip.AddrPortFrom(homelabWG, 5001).String(), size)
}

func TestWgShowAgainstWgu(t *testing.T) {
	s := newSeedLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s.up(ctx, t)

	for _, side := range []struct {
		ns   *Netns
		name string
	}{{s.hub, s.hubIf}, {s.homelab, s.homeIf}} {
		pretty := side.ns.MustRun("wg", "show", side.name)
		for _, want := range []string{"interface: " + side.name, "latest handshake:", "transfer:"} {
			if !strings.Contains(pretty, want) {
				t.Errorf("wg show %s lacks %q:\n%s", side.name, want, pretty)
			}
		}
		// Counters move with keepalives: retry a few times for a quiet
		// moment in which both tools see the same device.
		for _, args := range [][]string{
			{"dump"}, {"public-key"}, {"private-key"}, {"listen-port"}, {"fwmark"}, {"peers"},
			{"preshared-keys"}, {"endpoints"}, {"allowed-ips"}, {"latest-handshakes"}, {"transfer"},
			{"persistent-keepalive"},
		} {
			var wg, ours []string
			for attempt := 0; attempt < 3; attempt++ {
				wg = lineSet(side.ns.MustRun(append([]string{"wg", "show", side.name}, args...)...))
				ours = lineSet(mustWgu(ctx, t, side.ns, append([]string{"show", side.name}, args...)...))
				if strings.Join(wg, "\n") == strings.Join(ours, "\n") {
					break
				}
			}
			if got, want := strings.Join(ours, "\n"), strings.Join(wg, "\n"); got != want {
				t.Errorf("%s: wgu show %s %s:\n%s\nwg show says:\n%s", side.ns.Role, side.name, args[0], got, want)
			}
		}
		wgConf := lineSet(side.ns.MustRun("wg", "showconf", side.name))
		ourConf := lineSet(mustWgu(ctx, t, side.ns, "showconf", side.name))
		if got, want := strings.Join(ourConf, "\n"), strings.Join(wgConf, "\n"); got != want {
			t.Errorf("%s: wgu showconf %s:\n%s\nwg showconf says:\n%s", side.ns.Role, side.name, got, want)
		}
	}
	// `wgu show interfaces` lists both (the run directory is global).
	ifs := strings.Fields(mustWgu(ctx, t, s.hub, "show", "interfaces"))
	for _, name := range []string{s.hubIf, s.homeIf} {
		if !containsString(ifs, name) {
			t.Errorf("wgu show interfaces = %v, lacks %s", ifs, name)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSyncconfAddPeerLive(t *testing.T) {
	s := newSeedLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	phone := s.lab.Netns("phone")
	s.lab.Link(s.hub, phone, hubPhoneLnk, phoneLink)
	phoneIf, phoneKey := s.lab.IfName("phone"), newKeyPair(t)
	phoneConf := writeConfig(t, s.dir, phoneIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
PersistentKeepalive = 25
AllowedIPs = 10.0.0.0/24
`, phoneKey.Private, phoneWG, s.hubKey.Public, hubPhoneLnk.Addr(), hubPort))
	s.up(ctx, t)

	// A stream of about four seconds from the home lab to the hub.
	stream := startTransfer(t, ctx, s.homelab, s.hub, netip.AddrPortFrom(hubWG, 5003).String(), 8<<20, 30*time.Millisecond)
	if err := waitFor(ctx, "the stream to connect", func() bool {
		return outputLine(stream.sink.Stdout(), "peer ") != ""
	}); err != nil {
		t.Fatal(err)
	}

	// Add the phone to the hub's config and apply it live, like systemd's
	// reload: wg syncconf NAME <(wgu strip NAME).
	writeConfig(t, s.dir, s.hubIf, s.hubConfig(fmt.Sprintf(`
[Peer]
# the phone
PublicKey = %s
AllowedIPs = %s/32
`, phoneKey.Public, phoneWG)))
	stripped := filepath.Join(s.dir, "stripped.conf")
	if err := os.WriteFile(stripped, []byte(mustWgu(ctx, t, s.hub, "strip", s.hubConf)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.hub.MustRun("wg", "syncconf", s.hubIf, stripped)
	select {
	case <-stream.source.Done():
		t.Error("the stream ended before syncconf was done: the test did not overlap them")
	default:
	}
	if peers := s.hub.MustRun("wg", "show", s.hubIf, "peers"); !strings.Contains(peers, phoneKey.Public) {
		t.Fatalf("after syncconf the hub's peers are:\n%s", peers)
	}

	wguUp(ctx, t, phone, phoneConf)
	if err := phone.Ping(ctx, hubWG); err != nil {
		t.Fatalf("%v%s%s", err, daemonLog(phoneIf), daemonLog(s.hubIf))
	}
	// Spoke to spoke through the hub, which forwards (PostUp ip_forward=1).
	if err := s.homelab.Ping(ctx, phoneWG); err != nil {
		t.Fatal(err)
	}
	if err := phone.Ping(ctx, homelabWG); err != nil {
		t.Fatal(err)
	}
	if err := stream.check(ctx); err != nil {
		t.Fatalf("stream across the live syncconf: %v", err)
	}
	// syncconf kept what the hub had learned about the home lab.
	eps := s.hub.MustRun("wg", "show", s.hubIf, "endpoints")
	if !strings.Contains(eps, s.homeKey.Public+"\t"+routerWAN.Addr().String()+":") {
		t.Errorf("after syncconf hub endpoints = %q, want the home lab still known", eps)
	}
}

// routingState is everything about a namespace's routing that `up` may
// change and `down` must restore.
func routingState(t testing.TB, ns *Netns) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{
		{"ip", "-4", "rule"}, {"ip", "-6", "rule"},
		{"ip", "-4", "route", "show", "table", "all"}, {"ip", "-6", "route", "show", "table", "all"},
		{"nft", "list", "ruleset"},
	} {
		fmt.Fprintf(&b, "# %s\n", strings.Join(args, " "))
		for _, line := range strings.SplitAfter(ns.MustRun(args...), "\n") {
			// The kernel adds link-local routes by itself, whenever a
			// link's DAD completes: not something up or down does.
			if !strings.Contains(line, "fe80::") {
				b.WriteString(line)
			}
		}
	}
	return b.String()
}

func TestFullTunnelPolicyRouting(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	hub, spoke := lab.Netns("hub"), lab.Netns("spoke")
	lab.Link(hub, spoke, hubPublic, netip.MustParsePrefix("172.31.0.2/24"))
	// An address only the hub has: reachable from the spoke only through
	// the tunnel's default route.
	// (On lo: this kernel may lack the dummy link type.)
	hub.MustRun("ip", "addr", "add", "192.168.77.1/32", "dev", "lo")
	behindHub := netip.MustParseAddr("192.168.77.1")

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
AllowedIPs = 0.0.0.0/0
`, spokeKey.Private, homelabWG, hubKey.Public, hubPublic.Addr(), hubPort))

	wguUp(ctx, t, hub, hubConf)
	before := routingState(t, spoke)
	wguUp(ctx, t, spoke, spokeConf)

	rules := spoke.MustRun("ip", "-4", "rule")
	for _, want := range []string{"lookup main suppress_prefixlength 0", "not from all fwmark 0xca6c lookup 51820"} {
		if !strings.Contains(rules, want) {
			t.Errorf("ip rule lacks %q:\n%s", want, rules)
		}
	}
	if table := spoke.MustRun("ip", "-4", "route", "show", "table", "51820"); !strings.Contains(table, "default dev "+spokeIf) {
		t.Errorf("table 51820 has no default route via %s:\n%s", spokeIf, table)
	}
	if fw := strings.TrimSpace(spoke.MustRun("wg", "show", spokeIf, "fwmark")); fw != "0xca6c" {
		t.Errorf("wg show fwmark = %q, want 0xca6c", fw)
	}
	if got := spoke.MustRun("ip", "route", "get", behindHub.String()); !strings.Contains(got, "dev "+spokeIf) {
		t.Errorf("ip route get %s does not use the tunnel:\n%s", behindHub, got)
	}
	// The handshake to the endpoint escapes the tunnel (fwmark), and
	// everything else goes through it.
	if err := spoke.Ping(ctx, hubWG); err != nil {
		t.Fatalf("%v%s%s", err, daemonLog(spokeIf), daemonLog(hubIf))
	}
	if err := spoke.Ping(ctx, behindHub); err != nil {
		t.Fatal(err)
	}

	mustWgu(ctx, t, spoke, "down", spokeIf)
	if after := routingState(t, spoke); after != before {
		t.Errorf("wgu down did not restore routing exactly.\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if left := leftovers(spokeIf); len(left) > 0 {
		t.Errorf("wgu down left %v in %s", left, wgRunDir)
	}
}

// linkNames lists a namespace's interfaces.
func linkNames(t testing.TB, ns *Netns) string {
	t.Helper()
	var names []string
	for _, l := range strings.Split(ns.MustRun("ip", "-o", "link", "show"), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			names = append(names, strings.TrimSuffix(f[1], ":"))
		}
	}
	return strings.Join(names, " ")
}

// liveProcesses lists the processes (pid and command line) running in ns,
// leaving out zombies, which an init that does not reap may keep around.
func liveProcesses(ctx context.Context, ns *Netns) []string {
	out, _, _ := ns.Run(ctx, "ip", "netns", "pids", ns.Name)
	var live []string
	for _, f := range strings.Fields(out) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err != nil || processGone(pid) {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + f + "/cmdline")
		live = append(live, f+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return live
}

// brokenCase is one config of testdata/broken: its first line says where
// wgu must report the error ("# want: LINE KEY", LINE "-" for any line).
type brokenCase struct {
	file, line, key string
	text            string
}

func loadBrokenCases(t *testing.T) []brokenCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/broken/*.conf")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no broken configs in testdata/broken (%v)", err)
	}
	var cases []brokenCase
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(strings.TrimPrefix(first, "# want:"))
		if !strings.HasPrefix(first, "# want:") || len(f) != 2 {
			t.Fatalf("%s: first line must be `# want: LINE KEY`, is %q", p, first)
		}
		cases = append(cases, brokenCase{file: filepath.Base(p), line: f[0], key: f[1], text: string(b)})
	}
	return cases
}

func TestBrokenConfigs(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	host, other := lab.Netns("host"), lab.Netns("other")
	lab.Link(host, other, hubPublic, netip.MustParsePrefix("172.31.0.2/24"))
	links, routes := linkNames(t, host), routingState(t, host)

	// assertNothingLeft checks that a failed `up` of name changed nothing.
	assertNothingLeft := func(t *testing.T, name string) {
		t.Helper()
		if got := linkNames(t, host); got != links {
			t.Errorf("links changed: %s, were %s", got, links)
		}
		if got := routingState(t, host); got != routes {
			t.Errorf("routing changed:\n%s\nwas:\n%s", got, routes)
		}
		if left := leftovers(name); len(left) > 0 {
			t.Errorf("left %v in %s", left, wgRunDir)
		}
		// A failed up may take a moment to reap what it started.
		var live []string
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if waitFor(wctx, "no processes in the namespace", func() bool {
			live = liveProcesses(ctx, host)
			return len(live) == 0
		}) != nil {
			t.Errorf("processes left in the namespace: %v", live)
		}
	}

	for i, c := range loadBrokenCases(t) {
		t.Run(strings.TrimSuffix(c.file, ".conf"), func(t *testing.T) {
			name := lab.IfName(fmt.Sprintf("b%d", i))
			path := writeConfig(t, dir, name, c.text)
			out, errOut, err := wgu(ctx, t, host, "up", "-c", path)
			if err == nil {
				t.Errorf("wgu up succeeded on %s\nstdout: %s", c.file, out)
				wgu(ctx, t, host, "down", name)
				return
			}
			where := name + ".conf:"
			if c.line != "-" {
				where += c.line + ":"
			}
			if !strings.Contains(errOut, where) {
				t.Errorf("stderr does not name %q:\n%s", where, errOut)
			}
			if !strings.Contains(strings.ToLower(errOut), strings.ToLower(c.key)) {
				t.Errorf("stderr does not name the key %s:\n%s", c.key, errOut)
			}
			if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ") {
				t.Errorf("wgu panicked:\n%s", errOut)
			}
			assertNothingLeft(t, name)
		})
	}

	t.Run("postup_false", func(t *testing.T) {
		name := lab.IfName("bpost")
		k, peer := newKeyPair(t), newKeyPair(t)
		path := writeConfig(t, dir, name, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.1/24
ListenPort = %d
PostUp = false

[Peer]
PublicKey = %s
AllowedIPs = 10.0.0.2/32, 10.7.0.0/16
Endpoint = 172.31.0.2:%d
`, k.Private, hubPort, peer.Public, hubPort))
		if _, errOut, err := wgu(ctx, t, host, "up", "-c", path); err == nil {
			t.Errorf("wgu up succeeded with PostUp = false")
			wgu(ctx, t, host, "down", name)
		} else if strings.Contains(errOut, "panic") {
			t.Errorf("wgu panicked:\n%s", errOut)
		}
		assertNothingLeft(t, name)
	})
}

func TestDownAfterCrash(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	host, other := lab.Netns("host"), lab.Netns("other")
	lab.Link(host, other, netip.MustParsePrefix("172.31.0.2/24"), hubPublic)
	name := lab.IfName("crash")
	k, peer := newKeyPair(t), newKeyPair(t)
	marker := filepath.Join(dir, "postdown-ran")
	path := writeConfig(t, dir, name, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.2/24
PostDown = touch %s

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 0.0.0.0/0
`, k.Private, marker, peer.Public, hubPublic.Addr(), hubPort))
	before := routingState(t, host)

	wguUp(ctx, t, host, path)
	if rules := host.MustRun("ip", "-4", "rule"); !strings.Contains(rules, "lookup 51820") {
		t.Errorf("full tunnel up, but ip rule has no table 51820:\n%s", rules)
	}
	pid := daemonPID(ctx, t, host, name)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing daemon %d: %v", pid, err)
	}
	if err := waitFor(ctx, "the daemon to die", func() bool { return processGone(pid) }); err != nil {
		t.Fatal(err)
	}

	mustWgu(ctx, t, host, "down", name)
	if left := leftovers(name); len(left) > 0 {
		t.Errorf("wgu down after a crash left %v in %s", left, wgRunDir)
	}
	if after := routingState(t, host); after != before {
		t.Errorf("wgu down after a crash did not restore routing.\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("PostDown did not run: %v", err)
	}
	if _, _, err := host.Run(ctx, "ip", "link", "show", name); err == nil {
		t.Errorf("link %s still exists", name)
	}
}

func TestForegroundSIGTERM(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	host := lab.Netns("host")
	name := lab.IfName("fg")
	k, peer := newKeyPair(t), newKeyPair(t)
	marker := filepath.Join(dir, "postdown-ran")
	path := writeConfig(t, dir, name, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.1/24
PostDown = touch %s

[Peer]
PublicKey = %s
AllowedIPs = 10.0.0.2/32
`, k.Private, marker, peer.Public))
	before := routingState(t, host)

	p := host.Start(wguBinary(t), "up", "-f", "-c", path)
	exited := false
	if err := waitFor(ctx, "the UAPI socket", func() bool {
		select {
		case <-p.Done():
			exited = true
			return true
		default:
		}
		_, err := os.Stat(socketPath(name))
		return err == nil
	}); err != nil || exited {
		t.Fatalf("wgu up -f: %v (exited: %v); stderr: %s", err, exited, p.Stderr())
	}
	if err := waitFor(ctx, "the interface", func() bool {
		_, _, err := host.Run(ctx, "ip", "link", "show", name)
		return err == nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Errorf("wgu up -f after SIGTERM: %v; stderr: %s", err, p.Stderr())
	}
	if left := leftovers(name); len(left) > 0 {
		t.Errorf("left %v in %s", left, wgRunDir)
	}
	if after := routingState(t, host); after != before {
		t.Errorf("routing not restored.\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("PostDown did not run: %v", err)
	}
}

func TestKeysMatchWg(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ns := lab.Netns("keys")
	priv := strings.TrimSpace(mustWgu(ctx, t, ns, "genkey"))
	ours, _, err := ns.RunStdin(ctx, priv+"\n", wguBinary(t), "pubkey")
	if err != nil {
		t.Fatal(err)
	}
	theirs := ns.MustRunStdin(priv+"\n", "wg", "pubkey")
	if strings.TrimSpace(ours) != strings.TrimSpace(theirs) || strings.TrimSpace(theirs) == "" {
		t.Errorf("wgu pubkey = %q, wg pubkey = %q", ours, theirs)
	}
	psk := strings.TrimSpace(mustWgu(ctx, t, ns, "genpsk"))
	if len(psk) != 44 || psk == priv {
		t.Errorf("wgu genpsk = %q", psk)
	}
}
