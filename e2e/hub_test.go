package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wgu-project/wgu/internal/leakcheck"
	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
)

// Issue 5's lab: the hub runs rootless (nobody, netstack) and routes
// between two TUN spokes and a third, rootless spoke.
var (
	rhHubA   = netip.MustParsePrefix("172.28.1.1/24")
	rhSpokeA = netip.MustParsePrefix("172.28.1.2/24")
	rhHubB   = netip.MustParsePrefix("172.28.2.1/24")
	rhSpokeB = netip.MustParsePrefix("172.28.2.2/24")
	rhHubC   = netip.MustParsePrefix("172.28.3.1/24")
	rhSpokeC = netip.MustParsePrefix("172.28.3.2/24")
	rhWGA    = netip.MustParseAddr("10.0.0.2")
	rhWGB    = netip.MustParseAddr("10.0.0.3")
	rhWGC    = netip.MustParseAddr("10.0.0.5")
)

type rootlessHubLab struct {
	lab                *Lab
	hub, a, b, c       *Netns
	hubIf, aIf, bIf    string
	cIf                string
	dir, runDir        string
	hubProc, spokeProc *Proc
}

// nobodyDir makes a directory nobody owns, with a run directory inside.
func nobodyDir(t testing.TB) (dir, runDir string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "wgu-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	runDir = filepath.Join(dir, "run")
	if err := os.Mkdir(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, runDir} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, runDir
}

// startNobody starts wgu up -f as nobody without /dev/net/tun in ns and
// waits for its UAPI socket.
func startNobody(t testing.TB, ctx context.Context, ns *Netns, runDir, conf string) *Proc {
	t.Helper()
	if err := os.Chown(conf, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSuffix(filepath.Base(conf), ".conf")
	p, err := ns.StartEnv([]string{"LOG_LEVEL=verbose"}, rootlessArgs(wguBinary(t), "up", "-f", "--run-dir", runDir, "-c", conf)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Signal(syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Wait(ctx)
	})
	sock := filepath.Join(runDir, name+".sock")
	if err := waitFor(ctx, name+"'s socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil || isDone(p)
	}); err != nil || isDone(p) {
		t.Fatalf("rootless wgu %s did not come up (%v)\nstderr: %s", name, err, p.Stderr())
	}
	return p
}

func newRootlessHubLab(t testing.TB, ctx context.Context) *rootlessHubLab {
	t.Helper()
	return newHubLab(t, ctx, true)
}

// newHubLab builds the lab with the hub rootless or, for comparison, as
// a root wgu on a kernel TUN.
func newHubLab(t testing.TB, ctx context.Context, rootlessHub bool) *rootlessHubLab {
	t.Helper()
	RequireE2E(t)
	for _, tool := range []string{"setpriv", "unshare"} {
		if reason := MissingPrerequisite(tool); reason != "" {
			skipOrFail(t, reason)
		}
	}
	lab := NewLab(t)
	r := &rootlessHubLab{lab: lab, hub: lab.Netns("hub"), a: lab.Netns("a"), b: lab.Netns("b"), c: lab.Netns("c"),
		hubIf: lab.IfName("hub"), aIf: lab.IfName("a"), bIf: lab.IfName("b"), cIf: lab.IfName("c")}
	lab.Link(r.hub, r.a, rhHubA, rhSpokeA)
	lab.Link(r.hub, r.b, rhHubB, rhSpokeB)
	lab.Link(r.hub, r.c, rhHubC, rhSpokeC)
	r.dir, r.runDir = nobodyDir(t)
	hub, a, b, c := newKeyPair(t), newKeyPair(t), newKeyPair(t), newKeyPair(t)

	// The seed's hub config, unchanged: its PostUp needs root.
	hubConf := writeConfig(t, r.dir, r.hubIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d
PostUp = sysctl -w net.ipv4.ip_forward=1
PostDown = sysctl -w net.ipv4.ip_forward=0

[Peer]
PublicKey = %s
AllowedIPs = %s/32

[Peer]
PublicKey = %s
AllowedIPs = %s/32

[Peer]
PublicKey = %s
AllowedIPs = %s/32
`, hub.Private, hubWG, hubPort, a.Public, rhWGA, b.Public, rhWGB, c.Public, rhWGC))
	spoke := func(k keyPair, addr netip.Addr, hubAddr netip.Prefix) string {
		return fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 10.0.0.0/24
PersistentKeepalive = 25
`, k.Private, addr, hub.Public, hubAddr.Addr(), hubPort)
	}
	aConf := writeConfig(t, t.TempDir(), r.aIf, spoke(a, rhWGA, rhHubA))
	bConf := writeConfig(t, t.TempDir(), r.bIf, spoke(b, rhWGB, rhHubB))
	cConf := writeConfig(t, r.dir, r.cIf, spoke(c, rhWGC, rhHubC)+`
[TCPClientTunnel]
BindAddress = 127.0.0.1:6001
Target = 10.0.0.2:6001

[TCPClientTunnel]
BindAddress = 127.0.0.1:5201
Target = 10.0.0.1:5201
`)

	if rootlessHub {
		r.hubProc = startNobody(t, ctx, r.hub, r.runDir, hubConf)
	} else {
		wguUp(ctx, t, r.hub, hubConf)
		r.hubProc = &Proc{done: make(chan struct{})} // not ours to watch
	}
	wguUp(ctx, t, r.a, aConf)
	wguUp(ctx, t, r.b, bConf)
	r.spokeProc = startNobody(t, ctx, r.c, r.runDir, cConf)
	for _, ns := range []*Netns{r.a, r.b} {
		if err := ns.Ping(ctx, hubWG); err != nil {
			t.Fatalf("%v\nhub stderr: %s%s", err, r.hubProc.Stderr(), daemonLog(r.hubIf))
		}
	}
	return r
}

func TestRootlessHubRoutesBetweenSpokes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	r := newRootlessHubLab(t, ctx)
	if !strings.Contains(r.hubProc.Stderr(), "[-] PostUp hook skipped (netstack mode") {
		t.Errorf("the hub's PostUp was not reported as skipped:\n%s", r.hubProc.Stderr())
	}
	if err := r.a.Ping(ctx, rhWGB); err != nil {
		t.Fatal(err)
	}
	if err := r.b.Ping(ctx, rhWGA); err != nil {
		t.Fatal(err)
	}
	// TTL: one hop through the hub, as through a kernel router.
	out := r.a.MustRun("ping", "-n", "-c", "1", "-W", "2", rhWGB.String())
	if !strings.Contains(out, "ttl=63") {
		t.Errorf("a -> b through the hub should arrive with TTL 63:\n%s", out)
	}
	const size = 16 << 20
	mustTransfer(t, ctx, r.a, r.b, netip.AddrPortFrom(rhWGB, 5001).String(), size)
	mustTransfer(t, ctx, r.b, r.a, netip.AddrPortFrom(rhWGA, 5001).String(), size)
	// The rootless spoke c reaches TUN spoke a through the rootless hub.
	if err := startTransferVia(t, ctx, r.c, r.a, "127.0.0.1:6001", netip.AddrPortFrom(rhWGA, 6001).String(), size, 0).check(ctx); err != nil {
		t.Fatalf("rootless spoke -> hub -> TUN spoke: %v", err)
	}
	// The hub's own address answers too.
	if err := r.a.Ping(ctx, hubWG); err != nil {
		t.Fatal(err)
	}
	// Under go test -race the daemons are race-built: the hub's forwarding must not race.
	for name, p := range map[string]*Proc{"hub": r.hubProc, "spoke c": r.spokeProc} {
		if strings.Contains(p.Stderr(), "DATA RACE") {
			t.Errorf("the rootless %s reported a data race:\n%s", name, p.Stderr())
		}
	}
}

// The library program: a helper mode of this test binary that uses only
// the public tunnel API. It brings a netstack tunnel up from the config at
// WGU_E2E_CONFIG, serves HTTP on its tunnel address, reports each /slow
// request it starts streaming and, on SIGTERM, closes the tunnel with those
// requests in flight and checks that no goroutine it started is left.
const helperConfigEnv = "WGU_E2E_CONFIG"

// slowStarted is what the library program prints when the nth /slow
// request is streaming.
func slowStarted(n int64) string { return fmt.Sprintf("slow requests streaming: %d\n", n) }

func runLibraryServer(configPath string) error {
	// os/signal's watcher goroutine lives forever: start it before the snapshot.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	before := leakcheck.Snapshot()
	cfg, err := config.LoadConfig(configPath)
	if err != nil {
		return err
	}
	t, err := tunnel.Up(context.Background(), cfg, tunnel.WithMode(tunnel.ModeNetstack))
	if err != nil {
		return err
	}
	ln, err := t.Listen("tcp", ":8080")
	if err != nil {
		return err
	}
	var slow atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			// Stream slowly so the request is in flight when Close comes.
			for i := 0; i < 600; i++ {
				if _, err := io.WriteString(w, strings.Repeat("x", 1024)); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				if i == 0 {
					fmt.Print(slowStarted(slow.Add(1)))
				}
				time.Sleep(50 * time.Millisecond) // the pace of the stream, not a wait for anything
			}
			return
		}
		fmt.Fprintf(w, "hello %s from the library", r.RemoteAddr)
	})}
	go srv.Serve(ln)
	fmt.Println("listening")
	<-sig
	if err := t.Close(); err != nil {
		return err
	}
	srv.Close()
	// Everything the tunnel and the server started must end.
	if err := leakcheck.Find(leakcheck.Settle, before); err != nil {
		return fmt.Errorf("goroutines left after Close: %w", err)
	}
	fmt.Println("no goroutines left after Close")
	return nil
}

func TestLibraryProgram(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	RequireE2E(t)
	lab := NewLab(t)
	srvNs, cliNs := lab.Netns("lib"), lab.Netns("client")
	lab.Link(srvNs, cliNs, rlHubLink, rlSpokeLink)
	srvKey, cliKey := newKeyPair(t), newKeyPair(t)
	dir := t.TempDir()
	libConf := writeConfig(t, dir, lab.IfName("lib"), fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.1/24
ListenPort = %d

[Peer]
PublicKey = %s
AllowedIPs = 10.0.0.2/32
`, srvKey.Private, hubPort, cliKey.Public))
	cliConf := writeConfig(t, dir, lab.IfName("cli"), fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.2/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 10.0.0.0/24
`, cliKey.Private, srvKey.Public, rlHubLink.Addr(), hubPort))

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	lib, err := srvNs.StartEnv([]string{helperEnv + "=library", helperConfigEnv + "=" + libConf}, exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := lib.WaitOutput(ctx, "listening"); err != nil {
		t.Fatal(err)
	}
	wguUp(ctx, t, cliNs, cliConf)
	cliNs.MustPing(netip.MustParseAddr("10.0.0.1"), 20*time.Second)
	out := cliNs.MustRun("curl", "-sS", "--max-time", "10", "http://10.0.0.1:8080/")
	if !strings.HasPrefix(out, "hello 10.0.0.2:") {
		t.Fatalf("GET / = %q", out)
	}
	// Requests in flight when the program closes its tunnel.
	var slow []*Proc
	const slowRequests = 4
	for i := 0; i < slowRequests; i++ {
		slow = append(slow, cliNs.Start("curl", "-sS", "--max-time", "60", "-o", "/dev/null", "http://10.0.0.1:8080/slow"))
	}
	if err := lib.WaitOutput(ctx, slowStarted(slowRequests)); err != nil {
		t.Fatal(err)
	}
	if err := lib.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := lib.Wait(ctx); err != nil {
		t.Fatalf("library program: %v\n%s%s", err, lib.Stdout(), lib.Stderr())
	}
	t.Log(strings.TrimSpace(lib.Stdout()))
	for _, p := range slow {
		p.kill()
	}
}
