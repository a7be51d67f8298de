package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// doctorTimeout is the handshake wait the tests give doctor: the lab's
// peers answer in milliseconds, so 1 s keeps each failing scenario short.
const doctorTimeout = "1s"

// doctorResult is one line of `wgu doctor --json`.
type doctorResult struct {
	Status  string `json:"status"`
	ID      string `json:"id"`
	Subject string `json:"subject"`
	Finding string `json:"finding"`
	Fix     string `json:"fix"`
}

type doctorReport struct {
	Status  string         `json:"status"`
	Seconds float64        `json:"seconds"`
	Results []doctorResult `json:"results"`
}

// runDoctor runs `wgu doctor --json args` in ns and returns its report.
func runDoctor(ctx context.Context, t *testing.T, ns *Netns, args ...string) doctorReport {
	t.Helper()
	out, errOut, err := wgu(ctx, t, ns, append([]string{"doctor", "--json", "--timeout", doctorTimeout}, args...)...)
	var rep doctorReport
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("wgu doctor %s: %v (%v)\nstdout: %s\nstderr: %s", strings.Join(args, " "), jerr, err, out, errOut)
	}
	if (err == nil) != (rep.Status == "ok") {
		t.Errorf("wgu doctor %s: exit %v with status %q", strings.Join(args, " "), err, rep.Status)
	}
	return rep
}

// problems returns the sorted IDs of the results that are not ✔.
func (r doctorReport) problems() []string {
	var ids []string
	for _, res := range r.Results {
		if res.Status != "ok" && !containsString(ids, res.ID) {
			ids = append(ids, res.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func (r doctorReport) String() string {
	var b strings.Builder
	for _, res := range r.Results {
		fmt.Fprintf(&b, "  %-4s %-27s %s: %s [fix: %s]\n", res.Status, res.ID, res.Subject, res.Finding, res.Fix)
	}
	return b.String()
}

// expect fails t unless exactly the checks in ids are not ✔, and one of
// the findings of ids[0] contains phrase.
func (r doctorReport) expect(t *testing.T, phrase string, ids ...string) {
	t.Helper()
	sort.Strings(ids)
	if got := r.problems(); strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("doctor names %v, want exactly %v:\n%s", got, ids, r)
	}
	for _, res := range r.Results {
		if res.Status != "ok" && strings.Contains(res.Finding+" "+res.Fix, phrase) {
			t.Logf("%s: %s → fix: %s (%.1f s)", res.ID, res.Finding, res.Fix, r.Seconds)
			return
		}
	}
	t.Fatalf("no finding says %q:\n%s", phrase, r)
}

// doctorLab is issue 15's lab: a TUN hub with a public address; a home lab
// behind a masquerading router; a phone on a direct link to the hub.
type doctorLab struct {
	*seedLab
	phone               *Netns
	phoneIf             string
	phoneKey            keyPair
	phoneConf           string
	routerWANIf, hubWAN string // the veth ends of the router–hub link
}

func newDoctorLab(t *testing.T) *doctorLab {
	t.Helper()
	s := newSeedLab(t)
	d := &doctorLab{seedLab: s, phone: s.lab.Netns("phone"), phoneIf: s.lab.IfName("phone"), phoneKey: newKeyPair(t)}
	s.lab.Link(s.hub, d.phone, hubPhoneLnk, phoneLink)
	wan, _ := s.lab.linkBetween(s.router, s.hub)
	d.routerWANIf, d.hubWAN = wan.AIf, wan.BIf
	s.hubConf = writeConfig(t, s.dir, s.hubIf, s.hubConfig(fmt.Sprintf(`
[Peer]
# the phone
PublicKey = %s
AllowedIPs = %s/32
`, d.phoneKey.Public, phoneWG)))
	d.phoneConf = writeConfig(t, s.dir, d.phoneIf, d.phoneConfig(s.hubKey.Public, "10.0.0.0/24"))
	return d
}

func (d *doctorLab) phoneConfig(hubPub, allowed string) string {
	return fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24

[Peer]
# the hub
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = %s
`, d.phoneKey.Private, phoneWG, hubPub, hubPhoneLnk.Addr(), hubPort, allowed)
}

// TestDoctor breaks one thing at a time in one lab and checks that `wgu
// doctor` names that cause, and only that one; the healthy lab is all ✔.
func TestDoctor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()
	d := newDoctorLab(t)
	outer := t // cleanups that must outlive a subtest
	d.up(ctx, t)
	wguUp(ctx, t, d.phone, d.phoneConf)
	if err := d.phone.Ping(ctx, hubWG); err != nil {
		t.Fatal(err)
	}
	if err := d.homelab.Ping(ctx, phoneWG); err != nil {
		t.Fatalf("home lab cannot reach the phone through the hub: %v", err)
	}

	t.Run("healthy", func(t *testing.T) {
		for _, c := range []struct {
			ns   *Netns
			name string
		}{{d.hub, d.hubIf}, {d.homelab, d.homeIf}, {d.phone, d.phoneIf}} {
			start := time.Now()
			rep := runDoctor(ctx, t, c.ns, c.name)
			if p := rep.problems(); len(p) != 0 {
				t.Errorf("healthy %s: doctor names %v:\n%s", c.ns.Role, p, rep)
			}
			t.Logf("doctor %s (running): %d checks, all ✔, in %.2f s (wall %.2f s)", c.ns.Role, len(rep.Results), rep.Seconds, time.Since(start).Seconds())
		}
	})

	t.Run("ip_forward off on the hub", func(t *testing.T) {
		d.hub.MustRun("sysctl", "-q", "-w", "net.ipv4.ip_forward=0")
		defer d.hub.MustRun("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
		runDoctor(ctx, t, d.hub, d.hubIf).expect(t, "sysctl -w net.ipv4.ip_forward=1", "host.ip_forward")
	})

	t.Run("blocked port, seen on the hub", func(t *testing.T) {
		d.hub.MustRunStdin(fmt.Sprintf("add table inet doctortest\n"+
			"add chain inet doctortest input { type filter hook input priority 0; policy accept; }\n"+
			"add rule inet doctortest input udp dport %d drop\n", hubPort), "nft", "-f", "-")
		defer d.hub.MustRun("nft", "delete", "table", "inet", "doctortest")
		runDoctor(ctx, t, d.hub, d.hubIf).expect(t, fmt.Sprintf("udp dport %d drop", hubPort), "host.firewall")
	})

	t.Run("a hub's peer that never dialled in", func(t *testing.T) {
		ghost := newKeyPair(t)
		mustWgu(ctx, t, d.hub, "set", d.hubIf, "peer", ghost.Public, "allowed-ips", "10.0.0.9/32")
		defer mustWgu(ctx, t, d.hub, "set", d.hubIf, "peer", ghost.Public, "remove")
		runDoctor(ctx, t, d.hub, d.hubIf).expect(t, "never completed a handshake", "reach.handshake")
	})

	t.Run("1400-byte link between hub and spoke", func(t *testing.T) {
		setMTU := func(mtu string) {
			d.router.MustRun("ip", "link", "set", d.routerWANIf, "mtu", mtu)
			d.hub.MustRun("ip", "link", "set", d.hubWAN, "mtu", mtu)
			d.homelab.MustRun("ip", "route", "flush", "cache")
		}
		setMTU("1400")
		defer setMTU("1500")
		measureMTUTransfer(t, ctx, d, 1420, 1420)
		runDoctor(ctx, t, d.homelab, d.homeIf).expect(t, "MTU = 1340", "mtu.path")

		// With MTU unset, `up` comes up at once at wg-quick's MTU (1420:
		// the home lab's own link is 1500), probes the path in the
		// background and lowers the MTU to fit it, logging the change.
		// (The cache is flushed after down: the running tunnel may have
		// re-learned the path MTU, and wg-quick's rule would then give
		// 1320, which fits without a change.)
		mustWgu(ctx, t, d.homelab, "down", d.homeIf)
		d.homelab.MustRun("ip", "route", "flush", "cache")
		start := time.Now()
		_, upErr, err := wgu(ctx, t, d.homelab, "up", "-c", d.homeConf)
		if err != nil {
			t.Fatalf("wgu up: %v\n%s", err, upErr)
		}
		upTook := time.Since(start)
		outer.Cleanup(func() {
			if _, err := os.Stat(socketPath(d.homeIf)); err == nil {
				wgu(context.Background(), outer, d.homelab, "down", d.homeIf)
			}
		})
		mtuPath := filepath.Join("/sys/class/net", d.homeIf, "mtu")
		if err := waitFor(ctx, "the MTU lowered to 1340", func() bool {
			return strings.TrimSpace(d.homelab.MustRun("cat", mtuPath)) == "1340"
		}); err != nil {
			t.Fatalf("%v: MTU %s%s", err, d.homelab.MustRun("cat", mtuPath), daemonLog(d.homeIf))
		}
		t.Logf("MTU unset over a 1400-byte link: `wgu up` returned in %.2f s, the MTU was 1340 after %.2f s",
			upTook.Seconds(), time.Since(start).Seconds())
		// The change is logged: by the daemon, or by `up` if it came before
		// ready. The line follows the change itself, so it may land a moment
		// after the MTU the test saw.
		logged := func() bool {
			logs := upErr + daemonLog(d.homeIf)
			return strings.Contains(logs, "MTU lowered to fit the path towards the endpoints") &&
				strings.Contains(logs, "old=1420 mtu=1340")
		}
		logCtx, logCancel := context.WithTimeout(ctx, 5*time.Second)
		defer logCancel()
		if err := waitFor(logCtx, "the change of MTU logged", logged); err != nil {
			t.Errorf("the change of MTU is not logged:\n%s", upErr+daemonLog(d.homeIf))
		}
		if err := d.homelab.Ping(ctx, hubWG); err != nil {
			t.Fatal(err)
		}
		if !measureMTUTransfer(t, ctx, d, 1340, 1340) {
			t.Errorf("with the MTU fitted after up, the transfer should arrive%s", daemonLog(d.homeIf))
		}
		if rep := runDoctor(ctx, t, d.homelab, d.homeIf); len(rep.problems()) != 0 {
			t.Errorf("after up fitted the MTU, doctor names %v:\n%s", rep.problems(), rep)
		}
	})

	// The rest examines configs that are not up: the probe speaks with the
	// spokes' keys, so they go down first (their sessions would roam).
	mustWgu(ctx, t, d.phone, "down", d.phoneIf)
	mustWgu(ctx, t, d.homelab, "down", d.homeIf)

	t.Run("blocked port, seen from the spoke", func(t *testing.T) {
		d.hub.MustRunStdin(fmt.Sprintf("add table inet doctortest\n"+
			"add chain inet doctortest input { type filter hook input priority 0; policy accept; }\n"+
			"add rule inet doctortest input udp dport %d drop\n", hubPort), "nft", "-f", "-")
		defer d.hub.MustRun("nft", "delete", "table", "inet", "doctortest")
		runDoctor(ctx, t, d.phone, "-c", d.phoneConf).expect(t, "no answer from 172.30.0.1:51820 within 1 s", "reach.handshake")
	})

	t.Run("healthy spoke config, not up", func(t *testing.T) {
		rep := runDoctor(ctx, t, d.phone, "-c", d.phoneConf, "--peer-config", d.hubConf)
		if p := rep.problems(); len(p) != 0 {
			t.Errorf("doctor names %v:\n%s", p, rep)
		}
		t.Logf("doctor phone (config not up, with the hub's config): %d checks, all ✔, in %.2f s", len(rep.Results), rep.Seconds)
	})

	t.Run("wrong public key", func(t *testing.T) {
		conf := writeConfig(t, d.dir, "wrongkey", d.phoneConfig(newKeyPair(t).Public, "10.0.0.0/24"))
		rep := runDoctor(ctx, t, d.phone, "-c", conf, "--peer-config", d.hubConf)
		rep.expect(t, "PublicKey = "+d.hubKey.Public, "config.peer-key", "reach.handshake")
		// The silence is put down to the same cause.
		rep.expect(t, "as expected: the keys do not match", "config.peer-key", "reach.handshake")
		// Without the hub's config, doctor can only see the silence.
		runDoctor(ctx, t, d.phone, "-c", conf).expect(t, "the key is wrong", "reach.handshake")
	})

	t.Run("wrong AllowedIPs", func(t *testing.T) {
		conf := writeConfig(t, d.dir, "wrongallowed", d.phoneConfig(d.hubKey.Public, "10.0.1.0/24"))
		runDoctor(ctx, t, d.phone, "-c", conf).expect(t, "outside every peer's AllowedIPs", "config.address")
		runDoctor(ctx, t, d.phone, "-c", conf, "--peer-config", d.hubConf).
			expect(t, "do not include the hub's", "config.allowedips")

		// The human output: one line per check, exit status 1 for a ✘.
		out, _, err := wgu(ctx, t, d.phone, "doctor", "--timeout", doctorTimeout, "-c", conf, "-c", d.hubConf)
		if err == nil || !strings.Contains(out, "✘ config.allowedips") || !strings.Contains(out, "✔ reach.handshake") {
			t.Errorf("wgu doctor -c %s -c %s: %v\n%s", conf, d.hubConf, err, out)
		}
		t.Logf("human output:\n%s", out)
	})

	t.Run("missing keepalive behind the NAT", func(t *testing.T) {
		text, err := os.ReadFile(d.homeConf)
		if err != nil {
			t.Fatal(err)
		}
		conf := writeConfig(t, d.dir, "noka", strings.Replace(string(text), "PersistentKeepalive = 25\n", "", 1))
		runDoctor(ctx, t, d.homelab, "-c", conf).expect(t, "behind NAT", "config.keepalive")
	})

	t.Run("open proxy on a running netstack spoke", func(t *testing.T) {
		text := strings.Replace(d.phoneConfig(d.hubKey.Public, "10.0.0.0/24"), "[Peer]", "DNS = 10.0.0.1\n\n[Peer]", 1)
		conf := writeConfig(t, d.dir, d.lab.IfName("rl"), text+"\n[Socks5]\nBindAddress = 0.0.0.0:1080\n")
		mustWgu(ctx, t, d.phone, "up", "--mode", "netstack", "-c", conf)
		defer mustWgu(ctx, t, d.phone, "down", d.lab.IfName("rl"))
		rep := runDoctor(ctx, t, d.phone, d.lab.IfName("rl"))
		rep.expect(t, "BindAddress = 127.0.0.1:1080", "rootless.bind")
		for _, id := range []string{"reach.handshake", "rootless.rundir", "rootless.dns"} {
			if !slicesContainsID(rep.Results, id) {
				t.Errorf("no %s check on a running netstack interface:\n%s", id, rep)
			}
		}
	})

	t.Run("duplicated AllowedIPs", func(t *testing.T) {
		conf := writeConfig(t, d.dir, "dup", d.hubConfig(fmt.Sprintf(`
[Peer]
# the phone
PublicKey = %s
AllowedIPs = %s/32
`, d.phoneKey.Public, homelabWG)))
		runDoctor(ctx, t, d.hub, "-c", conf).expect(t, `only the last, peer "the phone"`, "config.duplicate-allowedips")
	})
}

// measureMTUTransfer sends 2 MB through the tunnel from the home lab to
// the hub and logs whether and how fast it arrived; it fails t unless the
// home lab's tunnel has an MTU from minMTU to maxMTU. It reports whether
// the data arrived.
func measureMTUTransfer(t *testing.T, ctx context.Context, d *doctorLab, minMTU, maxMTU int) bool {
	t.Helper()
	mtu := strings.TrimSpace(d.homelab.MustRun("cat", filepath.Join("/sys/class/net", d.homeIf, "mtu")))
	if n, err := strconv.Atoi(mtu); err != nil || n < minMTU || n > maxMTU {
		t.Fatalf("home lab tunnel MTU %s, want %d to %d", mtu, minMTU, maxMTU)
	}
	tctx, cancel := context.WithTimeout(ctx, 4*time.Second) // 2 MB takes well under 1 s here when it flows
	defer cancel()
	start := time.Now()
	tr := startTransfer(t, tctx, d.homelab, d.hub, netip.AddrPortFrom(hubWG, 5011).String(), 2<<20, 0)
	if err := tr.check(tctx); err != nil {
		t.Logf("MTU measurement: 2 MB home lab → hub, tunnel MTU %s, 1400-byte link: stalled, not done after %.1f s",
			mtu, time.Since(start).Seconds())
		tr.source.kill()
		tr.sink.kill()
		return false
	}
	t.Logf("MTU measurement: 2 MB home lab → hub, tunnel MTU %s, 1400-byte link: arrived in %.2f s", mtu, time.Since(start).Seconds())
	return true
}

func slicesContainsID(rs []doctorResult, id string) bool {
	for _, r := range rs {
		if r.ID == id {
			return true
		}
	}
	return false
}
