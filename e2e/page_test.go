package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// Issue 16's page, in a real browser: headless Debian chromium, driven with
// chromedp from a helper mode of this test binary that runs inside the
// hub's namespace (the page binds the hub's loopback, which only processes
// in that namespace reach).
const (
	browserURLEnv      = "WGU_E2E_PAGE_URL"
	browserPasswordEnv = "WGU_E2E_PAGE_PASSWORD"
	browserOutEnv      = "WGU_E2E_PAGE_OUT"
	// pageScreenshotsEnv names a directory to keep the screenshots in.
	pageScreenshotsEnv = "WGU_E2E_SCREENSHOTS"
	browserPeer        = "browser-phone"
	chromiumPath       = "/usr/bin/chromium"
)

var (
	pageHubA   = netip.MustParsePrefix("172.28.11.1/24")
	pageSpokeA = netip.MustParsePrefix("172.28.11.2/24")
	pageHubD   = netip.MustParsePrefix("172.28.12.1/24")
	pageSpokeD = netip.MustParsePrefix("172.28.12.2/24")
	pageWGA    = netip.MustParseAddr("10.0.0.2")
)

func TestPageInBrowser(t *testing.T) {
	RequireE2E(t)
	for _, tool := range []string{"setpriv", "unshare", "zbarimg", chromiumPath} {
		if reason := MissingPrerequisite(tool); reason != "" {
			skipOrFail(t, reason)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()
	lab := NewLab(t)
	hub, a, d := lab.Netns("hub"), lab.Netns("a"), lab.Netns("d")
	hubIf, aIf, dIf := lab.IfName("hub"), lab.IfName("a"), lab.IfName("d")
	lab.Link(hub, a, pageHubA, pageSpokeA)
	lab.Link(hub, d, pageHubD, pageSpokeD)
	dir, runDir := nobodyDir(t)
	hubKey, aKey := newKeyPair(t), newKeyPair(t)
	const password = "page test password"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// A rootless (netstack) hub with one spoke and the page on its loopback.
	hubConf := writeConfig(t, dir, hubIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d
# Endpoint = %s:%d
# UIPasswordHash = %s

[Peer]
# Name = spoke-a
PublicKey = %s
AllowedIPs = %s/32
`, hubKey.Private, hubWG, hubPort, pageHubD.Addr(), hubPort, hash, aKey.Public, pageWGA))
	if err := os.Chown(hubConf, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	const pageAddr = "127.0.0.1:8443"
	hubProc, err := hub.StartEnv(nil, rootlessArgs(wguBinary(t), "up", "-f", "--run-dir", runDir, "--forwarding", "on", "--ui", pageAddr, "-c", hubConf)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hubProc.Signal(15)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hubProc.Wait(ctx)
	})
	if err := waitFor(ctx, "the management page", func() bool {
		return strings.Contains(hubProc.Stderr(), "management page listening") || isDone(hubProc)
	}); err != nil || isDone(hubProc) {
		t.Fatalf("hub with --ui did not come up (%v):\n%s", err, hubProc.Stderr())
	}
	aConf := writeConfig(t, t.TempDir(), aIf, fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = %s/24\n\n[Peer]\nPublicKey = %s\nEndpoint = %s:%d\nAllowedIPs = 10.0.0.0/24\nPersistentKeepalive = 25\n",
		aKey.Private, pageWGA, hubKey.Public, pageHubA.Addr(), hubPort))
	wguUp(ctx, t, a, aConf)
	if err := a.Ping(ctx, hubWG); err != nil {
		t.Fatal(err)
	}

	// The browser: log in, add a peer, read its QR code off the page.
	out := os.Getenv(pageScreenshotsEnv)
	if out == "" {
		out = t.TempDir()
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	browser, err := hub.StartEnv([]string{helperEnv + "=browser", browserURLEnv + "=http://" + pageAddr, browserPasswordEnv + "=" + password, browserOutEnv + "=" + out}, exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := browser.WaitOutput(ctx, "added"); err != nil {
		t.Fatalf("%v\nbrowser: %s%s\nhub: %s", err, browser.Stdout(), browser.Stderr(), hubProc.Stderr())
	}
	pageConf, err := os.ReadFile(filepath.Join(out, "config.txt"))
	if err != nil {
		t.Fatal(err)
	}
	qrConf := zbarDecode(t, filepath.Join(out, "qr.png"))
	if qrConf != string(pageConf) {
		t.Fatalf("the page's QR code says:\n%q\nits config text is:\n%q", qrConf, pageConf)
	}
	client, err := config.ParseConfig("client", strings.NewReader(qrConf))
	if err != nil {
		t.Fatalf("the QR code's config does not parse: %v\n%s", err, qrConf)
	}
	if strings.Contains(hubProc.Stderr(), client.Interface.PrivateKey.String()) {
		t.Error("the hub's log holds the client's private key")
	}

	// The decoded config, as a new spoke: it reaches the hub and spoke a.
	wguUp(ctx, t, d, writeConfig(t, t.TempDir(), dIf, qrConf))
	if err := d.Ping(ctx, hubWG); err != nil {
		t.Fatalf("new spoke -> hub: %v", err)
	}
	if err := d.Ping(ctx, pageWGA); err != nil {
		t.Fatalf("new spoke -> hub -> spoke a: %v", err)
	}
	phone := client.Interface.PrivateKey.PublicKey()
	st, err := uapi.Get(ctx, rundir.SocketPath(runDir, hubIf))
	if err != nil || livePeer(st, phone) == nil || livePeer(st, phone).LastHandshake.IsZero() {
		t.Fatalf("the hub has no handshake with the new peer: %v", err)
	}

	// The browser disables, enables and removes the peer.
	if err := os.WriteFile(filepath.Join(out, "go-remove"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := browser.WaitOutput(ctx, "removed"); err != nil {
		t.Fatal(err)
	}
	if err := browser.Wait(ctx); err != nil {
		t.Fatalf("browser helper: %v\n%s", err, browser.Stderr())
	}
	t.Logf("browser helper:\n%s", browser.Stdout())
	st, err = uapi.Get(ctx, rundir.SocketPath(runDir, hubIf))
	if err != nil || livePeer(st, phone) != nil {
		t.Fatalf("the removed peer is still on the hub (%v)", err)
	}
	if text, _ := os.ReadFile(hubConf); strings.Contains(string(text), browserPeer) {
		t.Fatalf("the removed peer is still in the file:\n%s", text)
	}
	// Its handshake stops: the new spoke gets nothing back any more.
	rx := func() string {
		return outputLine(d.MustRun("wg", "show", dIf, "transfer"), client.Peers[0].PublicKey.String())
	}
	before := rx()
	shortCtx, cancelShort := context.WithTimeout(ctx, 4*time.Second)
	if err := d.Ping(shortCtx, hubWG); err == nil {
		t.Error("the removed peer still reaches the hub")
	}
	cancelShort()
	if after := rx(); strings.Fields(after)[1] != strings.Fields(before)[1] {
		t.Errorf("the removed peer still receives: %q -> %q", before, after)
	}
	if err := a.Ping(ctx, hubWG); err != nil {
		t.Fatalf("spoke a after the removal: %v", err)
	}
}

// runBrowser is the "browser" helper mode: it drives chromium through the
// page and writes the QR code, the config text and screenshots to the
// output directory; it prints "added" and, once the test creates
// go-remove there, disables, enables and removes the peer and prints
// "removed".
func runBrowser() error {
	base, out := os.Getenv(browserURLEnv), os.Getenv(browserOutEnv)
	profile, err := os.MkdirTemp("", "wgu-chromium-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var png []byte
			if err := chromedp.CaptureScreenshot(&png).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(out, name+".png"), png, 0o644)
		})
	}
	row := `tr[data-name="` + browserPeer + `"]`
	var qrSrc, config, wrong string
	err = chromedp.Run(bctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#password", chromedp.ByQuery),
		shot("1-login"),
		chromedp.SendKeys("#password", "not the password", chromedp.ByQuery),
		chromedp.Click("#login", chromedp.ByQuery),
		chromedp.WaitVisible("#error", chromedp.ByQuery),
		chromedp.Text("#error", &wrong, chromedp.ByQuery),
		shot("2-login-wrong"),
		chromedp.SendKeys("#password", os.Getenv(browserPasswordEnv), chromedp.ByQuery),
		chromedp.Click("#login", chromedp.ByQuery),
		chromedp.WaitVisible("#peers", chromedp.ByQuery),
		shot("3-peers"),
		chromedp.SendKeys("#name", browserPeer, chromedp.ByQuery),
		chromedp.Click("#add", chromedp.ByQuery),
		chromedp.WaitVisible("#qr", chromedp.ByQuery),
		shot("4-added"),
		chromedp.AttributeValue("#qr", "src", &qrSrc, nil, chromedp.ByQuery),
		chromedp.TextContent("#config", &config, chromedp.ByQuery),
	)
	if err != nil {
		return fmt.Errorf("login and add: %w", err)
	}
	fmt.Println("wrong password said:", wrong)
	b64, ok := strings.CutPrefix(qrSrc, "data:image/png;base64,")
	if !ok {
		return fmt.Errorf("the QR image is not an inline PNG: %.60q", qrSrc)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "qr.png"), png, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "config.txt"), []byte(config), 0o644); err != nil {
		return err
	}
	fmt.Println("added")
	for {
		if _, err := os.Stat(filepath.Join(out, "go-remove")); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return errors.New("the test never said go-remove")
		case <-time.After(50 * time.Millisecond):
		}
	}
	var handshake, state string
	err = chromedp.Run(bctx,
		chromedp.Click("#back", chromedp.ByQuery),
		chromedp.WaitVisible(row, chromedp.ByQuery),
		// The rows refresh every 3 s: wait for the handshake to show.
		chromedp.Poll(`(document.querySelector('`+row+` td.handshake')||{}).textContent.endsWith('ago')`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text(row+" td.handshake", &handshake, chromedp.ByQuery),
		shot("5-peers-live"),
		chromedp.Click(row+" button.toggle", chromedp.ByQuery),
		chromedp.WaitVisible(row+".disabled", chromedp.ByQuery),
		chromedp.Text(row+" td.state", &state, chromedp.ByQuery),
		shot("6-disabled"),
		chromedp.Click(row+" button.toggle", chromedp.ByQuery),
		chromedp.WaitVisible(row+":not(.disabled)", chromedp.ByQuery),
		chromedp.Click(row+" button.remove", chromedp.ByQuery),
		chromedp.WaitNotPresent(row, chromedp.ByQuery),
		shot("7-removed"),
	)
	if err != nil {
		return fmt.Errorf("disable, enable, remove: %w", err)
	}
	fmt.Printf("handshake shown: %s; disabled state shown: %s\n", handshake, state)
	fmt.Println("removed")
	return nil
}
