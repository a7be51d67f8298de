package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The kernel-interop lab: namespace "host" holds a tap device, and behind
// it a qemu guest running Linux's own WireGuard (wireguard.ko). wgu runs
// in "host", on a kernel TUN or rootless on its netstack, and talks to the
// guest's wg0 as to any peer. The guest's only network is that tap.
var (
	kgHostV4   = netip.MustParseAddr("172.30.7.1")
	kgHostV4b  = netip.MustParseAddr("172.30.7.11") // host's address after it roams
	kgGuestV4  = netip.MustParseAddr("172.30.7.2")
	kgGuestV4b = netip.MustParseAddr("172.30.7.12") // guest's address after it roams
	kgHostV6   = netip.MustParseAddr("fd30:7::1")
	kgGuestV6  = netip.MustParseAddr("fd30:7::2")

	kgTunWG4   = netip.MustParseAddr("10.77.0.1") // wgu on a TUN
	kgTunWG6   = netip.MustParseAddr("fd77::1")
	kgGuestWG4 = netip.MustParseAddr("10.77.0.2")
	kgGuestWG6 = netip.MustParseAddr("fd77::2")
	kgNetWG4   = netip.MustParseAddr("10.77.0.3") // wgu on its netstack
)

const (
	kgGuestPort = 51820
	kgTunPort   = 51821
	kgNetPort   = 51822
	// kgTransfer is the size of each checksummed transfer: the guest's
	// crypto runs emulated, so keep it small.
	kgTransfer = 2 << 20
)

type kernelLab struct {
	lab        *Lab
	host       *Netns
	guest      *Guest
	dir        string
	tunIf      string
	guestKey   keyPair
	tunKey     keyPair
	netKey     keyPair
	psk, badPS string
}

// newKernelLab boots the guest (skipping where it cannot run) and gives it
// its addresses and a wg0 with two peers: wgu on a TUN (with a preshared
// key) and wgu on its netstack; neither has an endpoint yet.
func newKernelLab(t *testing.T, ctx context.Context) *kernelLab {
	t.Helper()
	RequireE2E(t)
	if reason := MissingGuestPrerequisite(); reason != "" {
		skipOrFail(t, "kernel WireGuard guest: "+reason)
	}
	img, err := PrepareGuestImage(ctx)
	if err != nil {
		skipOrFail(t, "kernel WireGuard guest image: "+err.Error())
	}
	k := &kernelLab{lab: NewLab(t), dir: t.TempDir(),
		guestKey: newKeyPair(t), tunKey: newKeyPair(t), netKey: newKeyPair(t),
		psk: newPSK(t), badPS: newPSK(t)}
	k.host = k.lab.Netns("host")
	k.tunIf = k.lab.IfName("tun")
	tap := k.lab.IfName("tap")
	g, err := StartGuest(ctx, k.host, img, tap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	k.guest = g
	t.Logf("guest kernel %s booted in %v", img.Version, g.BootTime.Round(100*time.Millisecond))
	k.host.MustRun("ip", "addr", "add", kgHostV4.String()+"/24", "dev", tap)
	k.host.MustRun("ip", "addr", "add", kgHostV6.String()+"/64", "dev", tap, "nodad")
	k.guestRun(ctx, t, fmt.Sprintf(`ip link set lo up
ip link set eth0 up
ip addr add %s/24 dev eth0
ip -6 addr add %s/64 dev eth0
echo %s > /tmp/psk
echo %s > /tmp/badpsk
cat > /tmp/wg0.conf <<'EOF'
[Interface]
PrivateKey = %s
ListenPort = %d

[Peer]
PublicKey = %s
PresharedKey = %s
AllowedIPs = %s/32, %s/128

[Peer]
PublicKey = %s
AllowedIPs = %s/32
EOF
ip link add wg0 type wireguard
wg setconf wg0 /tmp/wg0.conf
ip addr add %s/24 dev wg0
ip -6 addr add %s/64 dev wg0
ip link set wg0 up`, kgGuestV4, kgGuestV6, k.psk, k.badPS,
		k.guestKey.Private, kgGuestPort, k.tunKey.Public, k.psk, kgTunWG4, kgTunWG6,
		k.netKey.Public, kgNetWG4, kgGuestWG4, kgGuestWG6))
	return k
}

func newPSK(t *testing.T) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// guestRun runs script on the guest and fails t if it fails.
func (k *kernelLab) guestRun(ctx context.Context, t *testing.T, script string) string {
	t.Helper()
	out, err := k.guest.Run(ctx, script)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// guestPing pings addr from the guest, retrying for about ten seconds
// while a handshake completes.
func (k *kernelLab) guestPing(ctx context.Context, addr netip.Addr) error {
	return k.guestPingTries(ctx, addr, 10)
}

// guestPingTries is guestPing with tries pings of a second each.
func (k *kernelLab) guestPingTries(ctx context.Context, addr netip.Addr, tries int) error {
	_, err := k.guest.Run(ctx, fmt.Sprintf(
		`ok=1; for i in $(seq %d); do if ping -c 1 -W 1 %s >/dev/null; then ok=0; break; fi; done; [ $ok = 0 ]`, tries, addr))
	if err != nil {
		return fmt.Errorf("ping %s from the guest: %w", addr, err)
	}
	return nil
}

// hostPing pings addr from the host namespace for up to ten seconds.
func (k *kernelLab) hostPing(ctx context.Context, addr netip.Addr) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return k.host.Ping(ctx, addr)
}

// pingBothWays checks the tunnel addresses answer each way, v4 and v6.
func (k *kernelLab) pingBothWays(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, a := range []netip.Addr{kgGuestWG4, kgGuestWG6} {
		if err := k.hostPing(ctx, a); err != nil {
			t.Fatalf("%v%s", err, daemonLog(k.tunIf))
		}
	}
	for _, a := range []netip.Addr{kgTunWG4, kgTunWG6} {
		if err := k.guestPing(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
}

// countedPings sends n single pings from the host to the guest and fails
// t unless every one is answered.
func (k *kernelLab) countedPings(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	var lost []int
	for i := range n {
		if _, _, err := k.host.Run(ctx, "ping", "-n", "-c", "1", "-W", "2", kgGuestWG4.String()); err != nil {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d pings to the guest went unanswered (%v)%s", len(lost), n, lost, daemonLog(k.tunIf))
	}
}

// guestPeerField returns the guest's `wg show wg0 FIELD` value for peer.
func (k *kernelLab) guestPeerField(ctx context.Context, t *testing.T, field, peer string) string {
	t.Helper()
	return peerField(t, k.guestRun(ctx, t, "wg show wg0 "+field), peer)
}

// wguPeerField returns wgu's `show IF FIELD` value for peer.
func (k *kernelLab) wguPeerField(ctx context.Context, t *testing.T, field, peer string) string {
	t.Helper()
	return peerField(t, mustWgu(ctx, t, k.host, "show", k.tunIf, field), peer)
}

func peerField(t *testing.T, out, peer string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), peer+"\t"); ok {
			return v
		}
	}
	t.Fatalf("no line for peer %s in:\n%s", peer, out)
	return ""
}

// tunConfig writes wgu's TUN-mode config, with the guest as endpoint or
// without one.
func (k *kernelLab) tunConfig(t *testing.T, withEndpoint bool) string {
	t.Helper()
	endpoint := ""
	if withEndpoint {
		endpoint = fmt.Sprintf("Endpoint = %s:%d\n", kgGuestV4, kgGuestPort)
	}
	return writeConfig(t, k.dir, k.tunIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24, %s/64
ListenPort = %d

[Peer]
PublicKey = %s
PresharedKey = %s
AllowedIPs = %s/32, %s/128
%s`, k.tunKey.Private, kgTunWG4, kgTunWG6, kgTunPort, k.guestKey.Public, k.psk, kgGuestWG4, kgGuestWG6, endpoint))
}

// tunUp brings wgu up on a TUN with config conf; the `wgu down` at the
// end belongs to parent, so the interface outlives the subtest t.
func (k *kernelLab) tunUp(ctx context.Context, t, parent *testing.T, conf string) {
	t.Helper()
	mustWgu(ctx, t, k.host, "up", "-c", conf)
	parent.Cleanup(func() {
		if _, err := os.Stat(socketPath(k.tunIf)); err != nil {
			return // down already
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if out, errOut, err := wgu(ctx, parent, k.host, "down", k.tunIf); err != nil {
			parent.Logf("cleanup: wgu down %s: %v\n%s%s", k.tunIf, err, out, errOut)
		}
	})
}

// resetGuestPeer removes wgu's TUN peer from the guest and adds it back
// with psk (a file on the guest) and endpoint (none if empty): a peer the
// guest has no session with.
func (k *kernelLab) resetGuestPeer(ctx context.Context, t *testing.T, psk, endpoint string) {
	t.Helper()
	ep := ""
	if endpoint != "" {
		ep = " endpoint " + endpoint
	}
	k.guestRun(ctx, t, fmt.Sprintf("wg set wg0 peer %s remove && wg set wg0 peer %s preshared-key %s allowed-ips %s/32,%s/128%s",
		k.tunKey.Public, k.tunKey.Public, psk, kgTunWG4, kgTunWG6, ep))
}

// guestSink starts `nc -l` on the guest, saving what arrives.
func (k *kernelLab) guestSink(ctx context.Context, t *testing.T, port int) {
	t.Helper()
	k.guestRun(ctx, t, fmt.Sprintf("rm -f /tmp/rx; nc -l -p %d > /tmp/rx &", port))
}

// guestSinkSum waits for the guest's sink to finish and returns the
// sha256 of what it received.
func (k *kernelLab) guestSinkSum(ctx context.Context, t *testing.T) string {
	t.Helper()
	return firstField(k.guestRun(ctx, t, "wait; sha256sum /tmp/rx"))
}

// guestBlob writes kgTransfer random bytes to file on the guest and
// returns their sha256.
func (k *kernelLab) guestBlob(ctx context.Context, t *testing.T, file string) string {
	t.Helper()
	return firstField(k.guestRun(ctx, t, fmt.Sprintf("mkdir -p $(dirname %s) && head -c %d /dev/urandom > %s && sha256sum %s", file, kgTransfer, file, file)))
}

func firstField(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 && len(f[0]) == 64 {
			return f[0]
		}
	}
	return "(none in " + strconv.Quote(s) + ")"
}

// startHelperProc runs the test binary's helper mode in ns.
func startHelperProc(t *testing.T, ns *Netns, env ...string) *Proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ns.StartEnv(env, exe)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sendToGuest sends kgTransfer bytes from the host to dial (the guest's
// sink, directly or through a forward) and checks what the guest got.
func (k *kernelLab) sendToGuest(ctx context.Context, t *testing.T, dial string, port int) {
	t.Helper()
	k.guestSink(ctx, t, port)
	src := startHelperProc(t, k.host, helperEnv+"=source", helperAddrEnv+"="+dial,
		helperBytesEnv+"="+strconv.Itoa(kgTransfer))
	if err := src.Wait(ctx); err != nil {
		t.Fatalf("sending to the guest via %s: %v; stderr: %s", dial, err, src.Stderr())
	}
	sent := strings.Fields(outputLine(src.Stdout(), "sha256 "))
	got := k.guestSinkSum(ctx, t)
	if len(sent) < 2 || sent[1] != got {
		t.Fatalf("host -> guest via %s: sent %v, the guest received sha256 %s", dial, sent, got)
	}
}

// receiveFromGuest has the guest send kgTransfer bytes to dial (an address
// as the guest sees it) and checks what arrives at the host's sink on listen.
func (k *kernelLab) receiveFromGuest(ctx context.Context, t *testing.T, listen, dial string, dialPort int) {
	t.Helper()
	sum := k.guestBlob(ctx, t, "/tmp/tx")
	sink := startHelperProc(t, k.host, helperEnv+"=sink", helperAddrEnv+"="+listen)
	if err := sink.WaitOutput(ctx, "listening"); err != nil {
		t.Fatal(err)
	}
	k.guestRun(ctx, t, fmt.Sprintf("nc %s %d < /tmp/tx", dial, dialPort))
	if err := sink.Wait(ctx); err != nil {
		t.Fatalf("receiving from the guest: %v; stderr: %s", err, sink.Stderr())
	}
	got := strings.Fields(outputLine(sink.Stdout(), "sha256 "))
	if len(got) < 3 || got[1] != sum || got[2] != strconv.Itoa(kgTransfer) {
		t.Fatalf("guest -> host (%s): the guest sent sha256 %s (%d bytes), the host received %v", listen, sum, kgTransfer, got)
	}
}

// TestKernelWireGuardInterop runs wgu against Linux's own WireGuard in a
// qemu guest: handshakes started by each side, pings each way over IPv4
// and IPv6, checksummed TCP each way through TUN mode and through a
// rootless netstack's forwards and SOCKS5, preshared keys (a wrong one
// refused), persistent keepalives, and roaming of each side (port,
// address, IPv4 to IPv6 endpoint).
func TestKernelWireGuardInterop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	k := newKernelLab(t, ctx)
	start := time.Now()
	defer func() {
		t.Logf("the checks took %v after the guest was set up", time.Since(start).Round(100*time.Millisecond))
	}()
	parent := t
	tunPeer := k.tunKey.Public
	guestPeer := k.guestKey.Public
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // later steps build on this one's state
		}
	}

	step("HandshakeInitiatedByKernel", func(t *testing.T) {
		// wgu has no endpoint for the guest, so only the guest can start.
		k.tunUp(ctx, t, parent, k.tunConfig(t, false))
		k.guestRun(ctx, t, fmt.Sprintf("wg set wg0 peer %s endpoint %s:%d", tunPeer, kgHostV4, kgTunPort))
		if err := k.guestPing(ctx, kgTunWG4); err != nil {
			t.Fatalf("%v%s", err, daemonLog(k.tunIf))
		}
		if ep := k.wguPeerField(ctx, t, "endpoints", guestPeer); ep != fmt.Sprintf("%s:%d", kgGuestV4, kgGuestPort) {
			t.Fatalf("wgu learned endpoint %q from the guest's handshake", ep)
		}
		mustWgu(ctx, t, k.host, "down", k.tunIf)
	})

	step("HandshakeInitiatedByWgu", func(t *testing.T) {
		// Now the guest has no endpoint (and no session) for wgu.
		k.resetGuestPeer(ctx, t, "/tmp/psk", "")
		k.tunUp(ctx, t, parent, k.tunConfig(t, true))
		if err := k.hostPing(ctx, kgGuestWG4); err != nil {
			t.Fatalf("%v%s", err, daemonLog(k.tunIf))
		}
		if ep := k.guestPeerField(ctx, t, "endpoints", tunPeer); ep != fmt.Sprintf("%s:%d", kgHostV4, kgTunPort) {
			t.Fatalf("the guest learned endpoint %q from wgu's handshake", ep)
		}
	})

	step("PingBothWaysIPv4AndIPv6", func(t *testing.T) {
		k.pingBothWays(ctx, t)
	})

	step("TCPThroughTUN", func(t *testing.T) {
		k.sendToGuest(ctx, t, fmt.Sprintf("%s:5000", kgGuestWG4), 5000)
		k.receiveFromGuest(ctx, t, fmt.Sprintf("[%s]:5001", kgTunWG6), kgTunWG6.String(), 5001)
	})

	step("PersistentKeepalives", func(t *testing.T) {
		// wgu (as wireguard-go) does not count keepalives it receives, so
		// the guest's are counted by nftables on their way in: WireGuard
		// data messages with an empty payload are 32 bytes (UDP length 40).
		table := k.lab.Prefix() + "ka"
		k.host.MustRunStdin(fmt.Sprintf(`add table inet %s
add chain inet %s in { type filter hook input priority 0; policy accept; }
add rule inet %s in iifname %q udp sport %d udp dport %d udp length 40 counter
`, table, table, table, k.guest.Tap, kgGuestPort, kgTunPort), "nft", "-f", "-")
		defer k.host.Run(ctx, "nft", "delete", "table", "inet", table)
		// One side at a time: a keepalive received also resets the
		// receiver's own keepalive timer, on both implementations.
		const idle = 3500 * time.Millisecond
		k.host.MustRun("nft", "reset", "counters", "table", "inet", table)
		k.guestRun(ctx, t, fmt.Sprintf("wg set wg0 peer %s persistent-keepalive 1", tunPeer))
		time.Sleep(idle) // no traffic but keepalives
		k.guestRun(ctx, t, fmt.Sprintf("wg set wg0 peer %s persistent-keepalive 0", tunPeer))
		counted := k.host.MustRun("nft", "list", "table", "inet", table)
		var fromGuest int
		if i := strings.Index(counted, "counter packets "); i >= 0 {
			fmt.Sscan(counted[i+len("counter packets "):], &fromGuest)
		}

		guestRx := func() int64 {
			n, _ := strconv.ParseInt(strings.Fields(k.guestPeerField(ctx, t, "transfer", tunPeer))[0], 10, 64)
			return n
		}
		rx0 := guestRx()
		mustWgu(ctx, t, k.host, "set", k.tunIf, "peer", guestPeer, "persistent-keepalive", "1")
		time.Sleep(idle)
		mustWgu(ctx, t, k.host, "set", k.tunIf, "peer", guestPeer, "persistent-keepalive", "0")
		fromWgu := (guestRx() - rx0) / 32
		if fromGuest < 2 || fromWgu < 2 {
			t.Fatalf("idle for %v with 1 s keepalives: wgu got %d keepalives from the guest, the guest %d from wgu\n%s",
				idle, fromGuest, fromWgu, counted)
		}
		t.Logf("keepalives in %v: %d from the guest to wgu, %d from wgu to the guest", idle, fromGuest, fromWgu)
	})

	step("WrongPresharedKeyRefused", func(t *testing.T) {
		k.resetGuestPeer(ctx, t, "/tmp/badpsk", fmt.Sprintf("%s:%d", kgHostV4, kgTunPort))
		if err := k.guestPingTries(ctx, kgTunWG4, 4); err == nil {
			t.Fatal("the guest reached wgu with a wrong preshared key")
		}
		if _, _, err := k.host.Run(ctx, "ping", "-n", "-c", "2", "-W", "2", kgGuestWG4.String()); err == nil {
			t.Fatal("wgu reached the guest with a wrong preshared key")
		}
		if hs := k.guestPeerField(ctx, t, "latest-handshakes", tunPeer); hs != "0" {
			t.Fatalf("the guest completed a handshake (at %s) with a wrong preshared key", hs)
		}
		// The right key works again.
		k.resetGuestPeer(ctx, t, "/tmp/psk", fmt.Sprintf("%s:%d", kgHostV4, kgTunPort))
		if err := k.guestPing(ctx, kgTunWG4); err != nil {
			t.Fatal(err)
		}
	})

	step("NetstackForwardsAndSOCKS5", func(t *testing.T) {
		if reason := MissingPrerequisite("setpriv", "unshare", "curl"); reason != "" {
			skipOrFail(t, reason)
		}
		dir, runDir := nobodyDir(t)
		name := k.lab.IfName("ns")
		conf := writeConfig(t, dir, name, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = %s/32

[Socks5]
BindAddress = 127.0.0.1:1080

[TCPClientTunnel]
BindAddress = 127.0.0.1:5101
Target = %s:5100

[TCPServerTunnel]
ListenPort = 5102
Target = 127.0.0.1:5102
`, k.netKey.Private, kgNetWG4, kgNetPort, guestPeer, kgGuestV4, kgGuestPort, kgGuestWG4, kgGuestWG4))
		p := startNobody(t, ctx, k.host, runDir, conf)
		// Upload through the client forward to the guest's nc.
		k.sendToGuest(ctx, t, "127.0.0.1:5101", 5100)
		// The guest dials the netstack's server forward to the host.
		k.receiveFromGuest(ctx, t, "127.0.0.1:5102", kgNetWG4.String(), 5102)
		// Download from the guest's httpd through SOCKS5.
		sum := k.guestBlob(ctx, t, "/tmp/www/blob")
		k.guestRun(ctx, t, "httpd -p 8000 -h /tmp/www")
		body, errOut, err := k.host.Run(ctx, "curl", "-sSf", "--max-time", "60", "--socks5", "127.0.0.1:1080",
			fmt.Sprintf("http://%s:8000/blob", kgGuestWG4))
		if err != nil {
			t.Fatalf("curl through SOCKS5: %v: %s\nwgu: %s", err, errOut, p.Stderr())
		}
		h := sha256.Sum256([]byte(body))
		if got := hex.EncodeToString(h[:]); got != sum || len(body) != kgTransfer {
			t.Fatalf("SOCKS5 download: %d bytes with sha256 %s, the guest served %d with %s", len(body), got, kgTransfer, sum)
		}
	})

	// wgu roams, the guest follows.
	step("WguRoamsPort", func(t *testing.T) {
		mustWgu(ctx, t, k.host, "set", k.tunIf, "listen-port", strconv.Itoa(kgTunPort+10))
		k.countedPings(ctx, t, 3)
		if ep := k.guestPeerField(ctx, t, "endpoints", tunPeer); ep != fmt.Sprintf("%s:%d", kgHostV4, kgTunPort+10) {
			t.Fatalf("the guest has endpoint %q for wgu after wgu changed port", ep)
		}
		if err := k.guestPing(ctx, kgTunWG4); err != nil {
			t.Fatal(err)
		}
	})
	step("WguRoamsAddress", func(t *testing.T) {
		tap := k.guest.Tap
		// The new address stays when the old (primary) one goes.
		k.host.MustRun("sysctl", "-q", "-w", "net.ipv4.conf."+tap+".promote_secondaries=1")
		k.host.MustRun("ip", "addr", "add", kgHostV4b.String()+"/24", "dev", tap)
		k.host.MustRun("ip", "addr", "del", kgHostV4.String()+"/24", "dev", tap)
		k.countedPings(ctx, t, 3)
		if ep := k.guestPeerField(ctx, t, "endpoints", tunPeer); ep != fmt.Sprintf("%s:%d", kgHostV4b, kgTunPort+10) {
			t.Fatalf("the guest has endpoint %q for wgu after wgu changed address", ep)
		}
		if err := k.guestPing(ctx, kgTunWG4); err != nil {
			t.Fatal(err)
		}
	})
	step("WguRoamsIPv4ToIPv6", func(t *testing.T) {
		mustWgu(ctx, t, k.host, "set", k.tunIf, "peer", guestPeer, "endpoint", fmt.Sprintf("[%s]:%d", kgGuestV6, kgGuestPort))
		k.countedPings(ctx, t, 5)
		if ep := k.guestPeerField(ctx, t, "endpoints", tunPeer); ep != fmt.Sprintf("[%s]:%d", kgHostV6, kgTunPort+10) {
			t.Fatalf("the guest has endpoint %q for wgu after wgu moved to IPv6", ep)
		}
		if err := k.guestPing(ctx, kgTunWG6); err != nil {
			t.Fatal(err)
		}
	})

	// The guest roams, wgu follows; both start from IPv4 again.
	step("KernelRoamsPort", func(t *testing.T) {
		mustWgu(ctx, t, k.host, "set", k.tunIf, "peer", guestPeer, "endpoint", fmt.Sprintf("%s:%d", kgGuestV4, kgGuestPort))
		k.guestRun(ctx, t, fmt.Sprintf("wg set wg0 peer %s endpoint %s:%d", tunPeer, kgHostV4b, kgTunPort+10))
		k.pingBothWays(ctx, t)
		k.guestRun(ctx, t, fmt.Sprintf("wg set wg0 listen-port %d", kgGuestPort+10))
		if err := k.guestPing(ctx, kgTunWG4); err != nil {
			t.Fatal(err)
		}
		if ep := k.wguPeerField(ctx, t, "endpoints", guestPeer); ep != fmt.Sprintf("%s:%d", kgGuestV4, kgGuestPort+10) {
			t.Fatalf("wgu has endpoint %q for the guest after it changed port", ep)
		}
		k.countedPings(ctx, t, 3)
	})
	step("KernelRoamsAddress", func(t *testing.T) {
		k.guestRun(ctx, t, fmt.Sprintf("echo 1 > /proc/sys/net/ipv4/conf/eth0/promote_secondaries && ip addr add %s/24 dev eth0 && ip addr del %s/24 dev eth0", kgGuestV4b, kgGuestV4))
		if err := k.guestPing(ctx, kgTunWG4); err != nil {
			t.Fatal(err)
		}
		if ep := k.wguPeerField(ctx, t, "endpoints", guestPeer); ep != fmt.Sprintf("%s:%d", kgGuestV4b, kgGuestPort+10) {
			t.Fatalf("wgu has endpoint %q for the guest after it changed address", ep)
		}
		k.countedPings(ctx, t, 3)
	})
	step("KernelRoamsIPv4ToIPv6", func(t *testing.T) {
		k.guestRun(ctx, t, fmt.Sprintf("wg set wg0 peer %s endpoint [%s]:%d", tunPeer, kgHostV6, kgTunPort+10))
		if err := k.guestPing(ctx, kgTunWG4); err != nil {
			t.Fatal(err)
		}
		if ep := k.wguPeerField(ctx, t, "endpoints", guestPeer); ep != fmt.Sprintf("[%s]:%d", kgGuestV6, kgGuestPort+10) {
			t.Fatalf("wgu has endpoint %q for the guest after it moved to IPv6", ep)
		}
		// Every reply must reach the guest's new IPv6 endpoint (issue 17:
		// wireguard-go's bind sent them to a stale address).
		k.countedPings(ctx, t, 10)
	})
}
