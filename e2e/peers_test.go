package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// Issue 16: wgu peer and wgu addpeer on a running hub, rootless (netstack,
// as nobody) and as root (TUN). The lab is issue 5's hub with spokes a, b, c
// (10.0.0.2, .3, .5); a new namespace d gets the new peer's config.
var (
	peerHubD   = netip.MustParsePrefix("172.28.4.1/24")
	peerSpokeD = netip.MustParsePrefix("172.28.4.2/24")
	peerWGD    = netip.MustParseAddr("10.0.0.4") // the first free address
)

// peerHub runs wgu commands against the lab's hub as the hub's user.
type peerHub struct {
	r        *rootlessHubLab
	rootless bool
	conf     string
	d        *Netns // the new client's namespace, linked to the hub
}

func (h *peerHub) args(args ...string) []string {
	if h.rootless {
		return rootlessArgs(append([]string{"env", "XDG_RUNTIME_DIR=", wguBinaryPath}, append(args, "--run-dir", h.r.runDir)...)...)
	}
	return append([]string{wguBinaryPath}, args...)
}

func (h *peerHub) run(ctx context.Context, args ...string) (string, string, error) {
	return h.r.hub.Run(ctx, h.args(args...)...)
}

func (h *peerHub) must(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := h.run(ctx, args...)
	if err != nil {
		t.Fatalf("wgu %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// status is the hub's live state.
func (h *peerHub) status(ctx context.Context, t *testing.T) *uapi.Status {
	t.Helper()
	dir := wgRunDir
	if h.rootless {
		dir = h.r.runDir
	}
	st, err := uapi.Get(ctx, rundir.SocketPath(dir, h.r.hubIf))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func livePeer(st *uapi.Status, k config.Key) *uapi.PeerStatus {
	for i := range st.Peers {
		if st.Peers[i].PublicKey == k {
			return &st.Peers[i]
		}
	}
	return nil
}

// wguBinaryPath is set by newPeerHub (the rootless wrapper needs a path).
var wguBinaryPath string

func newPeerHub(t *testing.T, ctx context.Context, rootless bool) *peerHub {
	r := newHubLab(t, ctx, rootless)
	wguBinaryPath = wguBinary(t)
	h := &peerHub{r: r, rootless: rootless, conf: filepath.Join(r.dir, r.hubIf+".conf")}
	h.d = r.lab.Netns("d")
	r.lab.Link(r.hub, h.d, peerHubD, peerSpokeD)
	return h
}

func TestPeerCommands(t *testing.T) {
	for _, mode := range []struct {
		name     string
		rootless bool
	}{{"netstack-rootless", true}, {"tun-root", false}} {
		t.Run(mode.name, func(t *testing.T) {
			if reason := MissingPrerequisite("zbarimg"); reason != "" {
				skipOrFail(t, reason)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
			defer cancel()
			h := newPeerHub(t, ctx, mode.rootless)
			testPeerCommands(t, ctx, h)
		})
	}
}

func testPeerCommands(t *testing.T, ctx context.Context, h *peerHub) {
	r := h.r
	d := h.d
	dIf := r.lab.IfName("d")
	before, err := os.ReadFile(h.conf)
	if err != nil {
		t.Fatal(err)
	}
	stBefore := h.status(ctx, t)

	// Other peers' sessions go on: a stream a -> b through the hub runs
	// while peers are added, disabled, enabled and removed.
	stream := startTransfer(t, ctx, r.a, r.b, netip.AddrPortFrom(rhWGB, 5007).String(), 8<<20, 30*time.Millisecond)

	// peer add, with the endpoint given once; QR on the terminal and as PNG.
	pngPath := filepath.Join(t.TempDir(), "phone.png")
	if h.rootless {
		pngPath = filepath.Join(r.dir, "phone.png") // nobody writes it
	}
	addStart := time.Now()
	out := h.must(ctx, t, "peer", "add", r.hubIf, "phone", "--endpoint", fmt.Sprintf("%s:%d", peerHubD.Addr(), hubPort),
		"--psk", "--keep-client-key", "--qr", "--out", pngPath)
	addDone := time.Now()
	// stdout: the config, a blank line, the QR code (its quiet zone first).
	conf, qrText, ok := strings.Cut(out, "\n\n\u2588")
	if !ok {
		t.Fatalf("peer add --qr printed no QR code after the config:\n%s", out)
	}
	conf += "\n"
	qrText = "\u2588" + qrText
	client, err := config.ParseConfig("client", strings.NewReader(conf))
	if err != nil {
		t.Fatalf("the printed config does not parse: %v\n%s", err, conf)
	}
	if got := client.Interface.Addresses; len(got) != 1 || got[0].Addr() != peerWGD {
		t.Errorf("client address %v, want %s (the first free one)", got, peerWGD)
	}
	if got := zbarDecode(t, pngPath); got != conf {
		t.Errorf("the PNG QR code says:\n%q\nthe config is:\n%q", got, conf)
	}
	termPNG := filepath.Join(t.TempDir(), "terminal.png")
	writeHalfBlockPNG(t, qrText, termPNG)
	if got := zbarDecode(t, termPNG); got != conf {
		t.Errorf("the terminal QR code says:\n%q\nthe config is:\n%q", got, conf)
	}
	after, _ := os.ReadFile(h.conf)
	if !bytes.HasPrefix(after, before) || !strings.Contains(string(after), "\n[Peer]\n# Name = phone\n") {
		t.Errorf("the hub's file was not appended to as expected:\n%s", after)
	}
	if fi, err := os.Stat(h.conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode after the atomic rewrite: %v %v, want 0600 kept", fi.Mode(), err)
	}

	// The new client comes up in d and reaches the hub and spoke a.
	dConf := writeConfig(t, t.TempDir(), dIf, conf)
	wguUp(ctx, t, d, dConf)
	upDone := time.Now()
	phoneKey := client.Interface.PrivateKey.PublicKey()
	var hs time.Time
	if err := waitFor(ctx, "the new peer's first handshake", func() bool {
		if p := livePeer(h.status(ctx, t), phoneKey); p != nil && !p.LastHandshake.IsZero() {
			hs = time.Now()
			return true
		}
		d.Ping(ctx, hubWG)
		return false
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("peer add took %v; wgu up of the client %v later; first handshake seen %v after peer add started",
		addDone.Sub(addStart).Round(time.Millisecond), upDone.Sub(addDone).Round(time.Millisecond), hs.Sub(addStart).Round(time.Millisecond))
	if err := d.Ping(ctx, hubWG); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(ctx, rhWGA); err != nil {
		t.Fatalf("new spoke -> hub -> spoke a: %v", err)
	}

	// peer list and peer show.
	list := h.must(ctx, t, "peer", "list", r.hubIf)
	line := outputLine(list, "phone ")
	if !strings.Contains(line, peerWGD.String()+"/32") || !strings.Contains(line, "enabled") || strings.Contains(line, "never") {
		t.Errorf("peer list, phone's line %q:\n%s", line, list)
	}
	if n := strings.Count(list, "\n"); n != 5 {
		t.Errorf("peer list has %d lines, want a header and 4 peers:\n%s", n, list)
	}
	if got := h.must(ctx, t, "peer", "show", r.hubIf, "phone"); got != conf {
		t.Errorf("peer show printed:\n%s\nwant what add printed:\n%s", got, conf)
	}
	if out, errOut, err := h.run(ctx, "peer", "show", r.hubIf, rhWGA.String()); err == nil || !strings.Contains(errOut, "no such peer") {
		t.Errorf("peer show of an unknown name: %v\n%s%s", err, out, errOut)
	}

	// disable: the block is commented out and the peer leaves the hub;
	// enable brings both back.
	h.must(ctx, t, "peer", "disable", r.hubIf, "phone")
	if text, _ := os.ReadFile(h.conf); !strings.Contains(string(text), "# disabled: [Peer]\n# disabled: # Name = phone\n") {
		t.Errorf("disabled block:\n%s", text)
	}
	if livePeer(h.status(ctx, t), phoneKey) != nil {
		t.Error("a disabled peer is still live")
	}
	if out, errOut, err := h.run(ctx, "peer", "show", r.hubIf, "phone"); err != nil || out != conf {
		t.Errorf("peer show of a disabled peer: %v\n%s%s", err, out, errOut)
	}
	h.must(ctx, t, "peer", "enable", r.hubIf, "phone")
	if text, _ := os.ReadFile(h.conf); string(text) != string(after) {
		t.Errorf("enable did not restore the block:\n%s", text)
	}
	if err := d.Ping(ctx, hubWG); err != nil {
		t.Fatalf("after enable: %v", err)
	}

	// remove by name: gone from the file and the hub.
	h.must(ctx, t, "peer", "remove", r.hubIf, "phone")
	if text, _ := os.ReadFile(h.conf); string(text) != string(before) {
		t.Errorf("remove did not give back the original file:\n%s", text)
	}
	if livePeer(h.status(ctx, t), phoneKey) != nil {
		t.Error("a removed peer is still live")
	}

	// addpeer as the tutorial writes it: the client made its own keys.
	k := newKeyPair(t)
	h.must(ctx, t, "addpeer", r.hubIf, k.Public, "--allowed-ips", "10.0.0.9/32")
	pub, _ := config.ParseKey(k.Public)
	if p := livePeer(h.status(ctx, t), pub); p == nil || len(p.AllowedIPs) != 1 || p.AllowedIPs[0].String() != "10.0.0.9/32" {
		t.Errorf("addpeer: live peer %+v", p)
	}
	if text, _ := os.ReadFile(h.conf); !strings.HasSuffix(string(text), "\n[Peer]\nPublicKey = "+k.Public+"\nAllowedIPs = 10.0.0.9/32\n") {
		t.Errorf("addpeer: file:\n%s", text)
	}
	if out, errOut, err := h.run(ctx, "peer", "show", r.hubIf, k.Public); err == nil || !strings.Contains(errOut, "not kept") || !strings.Contains(out, "10.0.0.9/32") {
		t.Errorf("peer show of a peer whose key the hub never had should explain:\n%s%s", out, errOut)
	}
	mustWgu(ctx, t, d, "down", dIf)
	own := fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = 10.0.0.9/32\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.0/24\nEndpoint = %s\n",
		k.Private, client.Peers[0].PublicKey, client.Peers[0].Endpoint)
	wguUp(ctx, t, d, writeConfig(t, t.TempDir(), dIf, own))
	if err := d.Ping(ctx, hubWG); err != nil {
		t.Fatalf("peer added with addpeer: %v", err)
	}
	h.must(ctx, t, "peer", "remove", r.hubIf, k.Public)
	if text, _ := os.ReadFile(h.conf); string(text) != string(before) {
		t.Errorf("remove by key did not give back the original file:\n%s", text)
	}

	if err := stream.check(ctx); err != nil {
		t.Errorf("the stream a -> b through the hub broke while peers changed: %v", err)
	}
	// Spoke a's peer was never re-created: its counters only grew.
	st := h.status(ctx, t)
	for _, p := range stBefore.Peers {
		if q := livePeer(st, p.PublicKey); q == nil || q.RxBytes < p.RxBytes {
			t.Errorf("peer %s was reset (rx %d before, now %+v)", p.PublicKey, p.RxBytes, q)
		}
	}

	// A caller who may not write the file is refused before anything changes.
	if h.rootless {
		os.Chmod(h.conf, 0o400)
		defer os.Chmod(h.conf, 0o600)
		out, errOut, err := h.run(ctx, "peer", "add", r.hubIf, "nope", "--endpoint", "192.0.2.1:1")
		if err == nil || !strings.Contains(errOut, "not writable") {
			t.Errorf("peer add on a read-only config: %v\n%s%s", err, out, errOut)
		}
		if text, _ := os.ReadFile(h.conf); string(text) != string(before) || len(h.status(ctx, t).Peers) != 3 {
			t.Errorf("a refused add changed something:\n%s", text)
		}
	}
}

// zbarDecode reads the QR code in an image file with zbarimg.
func zbarDecode(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("zbarimg", "--quiet", "--raw", "-Sbinary", path).Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v", path, err)
	}
	return string(out)
}

// writeHalfBlockPNG draws a QR code printed with UTF-8 half blocks back into
// an image: each character is two modules stacked, a drawn half is light.
func writeHalfBlockPNG(t *testing.T, text, path string) {
	t.Helper()
	rows := strings.Split(strings.TrimRight(text, "\n"), "\n")
	const scale = 8
	width := len([]rune(rows[0]))
	img := image.NewGray(image.Rect(0, 0, width*scale, 2*len(rows)*scale))
	set := func(x, y int, light bool) {
		c := color.Gray{Y: 0}
		if light {
			c.Y = 255
		}
		for dx := 0; dx < scale; dx++ {
			for dy := 0; dy < scale; dy++ {
				img.SetGray(x*scale+dx, y*scale+dy, c)
			}
		}
	}
	for y, row := range rows {
		for x, r := range []rune(row) {
			top := r == '\u2588' || r == '\u2580'
			bottom := r == '\u2588' || r == '\u2584'
			if r != ' ' && !top && !bottom {
				t.Fatalf("unexpected character %q in the terminal QR code", r)
			}
			set(x, 2*y, top)
			set(x, 2*y+1, bottom)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
