package tunnel

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
)

// oneNetstackConfig is a netstack config with one peer, for tests that do
// not need traffic.
func oneNetstackConfig(t *testing.T) *config.Config {
	t.Helper()
	k, _ := config.GeneratePrivateKey()
	p, _ := config.GeneratePrivateKey()
	return &config.Config{Name: "lc", Interface: config.Interface{PrivateKey: k,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		Peers: []config.Peer{{PublicKey: p.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
			Endpoint: config.Endpoint{Host: "127.0.0.1", Port: 9}}}}
}

func TestUpRefusesInvalidConfigBuiltInCode(t *testing.T) {
	other, _ := config.GeneratePrivateKey()
	for name, edit := range map[string]func(*config.Config){
		"MTU 100":       func(c *config.Config) { c.Interface.MTU = 100 },
		"MTU 70000":     func(c *config.Config) { c.Interface.MTU = 70000 },
		"no public key": func(c *config.Config) { c.Peers[0].PublicKey = config.Key{} },
		"own key":       func(c *config.Config) { c.Peers[0].PublicKey = c.Interface.PrivateKey.PublicKey() },
		"peer twice":    func(c *config.Config) { c.Peers = append(c.Peers, c.Peers[0]) },
		"endpoint port": func(c *config.Config) { c.Peers[0].Endpoint.Port = 0 },
		"bad table":     func(c *config.Config) { c.Interface.Table = "no such/table" },
		"bad service":   func(c *config.Config) { c.Services = []config.Section{{Name: "Socks6"}} },
		"service option": func(c *config.Config) {
			c.Services = []config.Section{{Name: "Socks5", Options: []config.Option{{Key: "BindAddress", Value: "nope"}}}}
		},
		"no name": func(c *config.Config) { c.Name = "" },
		"second own key": func(c *config.Config) {
			c.Peers = append(c.Peers, config.Peer{PublicKey: other.PublicKey()}, config.Peer{PublicKey: c.Interface.PrivateKey.PublicKey()})
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := oneNetstackConfig(t)
			edit(cfg)
			dir := t.TempDir()
			tun, err := Up(context.Background(), cfg, WithMode(ModeNetstack), WithUAPISocket(dir))
			if err == nil {
				tun.Close()
				t.Fatal("Up succeeded")
			}
			if !errors.Is(err, config.ErrInvalidConfig) {
				t.Fatalf("err = %v, want one wrapping ErrInvalidConfig", err)
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Errorf("left behind in the run directory: %v", left)
			}
		})
	}
}

func TestUpWithCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	tun, err := Up(ctx, oneNetstackConfig(t), WithMode(ModeNetstack), WithUAPISocket(dir))
	if err == nil {
		tun.Close()
		t.Fatal("Up succeeded with a cancelled context")
	}
	if err != context.Canceled {
		t.Errorf("err = %v, want ctx.Err()", err)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("left behind in the run directory: %v", left)
	}
}

func TestClosedTunnelFailsWithErrClosed(t *testing.T) {
	tun, err := Up(context.Background(), oneNetstackConfig(t), WithMode(ModeNetstack))
	if err != nil {
		t.Fatal(err)
	}
	client := tun.HTTPClient()
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ln, err := tun.Listen("tcp", "10.0.0.1:80"); !errors.Is(err, ErrClosed) {
		if err == nil {
			ln.Close()
		}
		t.Errorf("Listen: %v, want ErrClosed", err)
	}
	if pc, err := tun.ListenPacket("udp", "10.0.0.1:53"); !errors.Is(err, ErrClosed) {
		if err == nil {
			pc.Close()
		}
		t.Errorf("ListenPacket: %v, want ErrClosed", err)
	}
	if c, err := tun.DialContext(ctx, "tcp", "10.0.0.2:80"); !errors.Is(err, ErrClosed) {
		if err == nil {
			c.Close()
		}
		t.Errorf("DialContext: %v, want ErrClosed", err)
	}
	if _, err := tun.Ping(ctx, netip.MustParseAddr("10.0.0.2"), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping: %v, want ErrClosed", err)
	}
	if resp, err := client.Get("http://10.0.0.2/"); !errors.Is(err, ErrClosed) {
		if err == nil {
			resp.Body.Close()
		}
		t.Errorf("HTTPClient request: %v, want ErrClosed", err)
	}
	if err := tun.Reload(ctx, oneNetstackConfig(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Reload: %v, want ErrClosed", err)
	}
}

// gateResolver answers every lookup with addr, but only once released.
type gateResolver struct {
	asked   chan string
	release chan struct{}
	addr    netip.Addr
}

func newGateResolver(addr string) *gateResolver {
	return &gateResolver{asked: make(chan string, 16), release: make(chan struct{}), addr: netip.MustParseAddr(addr)}
}

func (r *gateResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	select {
	case r.asked <- host:
	default:
	}
	select {
	case <-r.release:
		return []netip.Addr{r.addr}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestCloseWaitsForReload(t *testing.T) {
	r := newGateResolver("192.0.2.9")
	cfg := oneNetstackConfig(t)
	tun, err := Up(context.Background(), cfg, WithMode(ModeNetstack), WithResolver(r))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	// The reload adds a peer whose name must be looked up: it waits in the resolver.
	kp, _ := config.GeneratePrivateKey()
	next := *cfg
	next.Peers = append(next.Peers[:1:1], config.Peer{PublicKey: kp.PublicKey(), Endpoint: config.Endpoint{Host: "slow.example", Port: 51820}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	order := make(chan string, 2)
	reloadErr := make(chan error, 1)
	go func() {
		err := tun.Reload(ctx, &next)
		order <- "reload"
		reloadErr <- err
	}()
	select {
	case <-r.asked:
	case <-ctx.Done():
		t.Fatal("the reload never looked the name up")
	}
	go func() {
		tun.Close()
		order <- "close"
	}()
	// Close must not finish while the reload is still changing the device.
	select {
	case who := <-order:
		t.Fatalf("%s returned while the reload was blocked", who)
	case <-time.After(200 * time.Millisecond):
	}
	close(r.release)
	// Both return now. Which one reports first is up to the scheduler (Close
	// may finish before the reload's goroutine runs again), so the order is
	// not asserted; what proves that Close waited is that the reload, which
	// changes the device after the lookup, still succeeded on a live device.
	<-order
	<-order
	if err := <-reloadErr; err != nil {
		t.Fatalf("the reload Close waited for: %v", err)
	}
}

// firstFreeResolver answers the first lookup (Up's) with first at once;
// later ones wait for release and answer later.
type firstFreeResolver struct {
	calls        atomic.Int32
	first, later netip.Addr
	gate         *gateResolver
}

func (r *firstFreeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{r.first}, nil
	}
	return r.gate.LookupNetIP(ctx, network, host)
}

// A re-resolved endpoint is set under the same lock as Reload: a lookup
// that was under way when a reload moved the peer must not undo the move.
func TestDDNSDoesNotUndoReload(t *testing.T) {
	r := &firstFreeResolver{first: netip.MustParseAddr("192.0.2.1"), gate: newGateResolver("192.0.2.66")}
	cfg := oneNetstackConfig(t)
	cfg.Peers[0].Endpoint = config.Endpoint{Host: "peer.example", Port: 51820}
	tun, err := Up(context.Background(), cfg, WithMode(ModeNetstack), WithResolver(r),
		WithEndpointRefresh(10*time.Millisecond, time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	select {
	case <-r.gate.asked:
	case <-ctx.Done():
		t.Fatal("the refresher never looked the name up again")
	}
	// While that lookup hangs, a reload moves the peer to an IP literal.
	next := *cfg
	next.Peers = []config.Peer{cfg.Peers[0]}
	next.Peers[0].Endpoint = config.Endpoint{Host: "198.51.100.4", Port: 51820}
	if err := tun.Reload(ctx, &next); err != nil {
		t.Fatal(err)
	}
	close(r.gate.release)
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		p, _ := statusPeer(t, tun, cfg.Peers[0].PublicKey)
		if got := p.Endpoint.String(); got != "198.51.100.4:51820" {
			t.Fatalf("endpoint %s after the reload set 198.51.100.4:51820: the stale lookup undid it", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReloadRefusesInvalidConfigBuiltInCode(t *testing.T) {
	cfg := oneNetstackConfig(t)
	tun, err := Up(context.Background(), cfg, WithMode(ModeNetstack))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	next := *cfg
	next.Peers = append(next.Peers[:1:1], config.Peer{PublicKey: cfg.Interface.PrivateKey.PublicKey()})
	if err := tun.Reload(context.Background(), &next); !errors.Is(err, config.ErrInvalidConfig) {
		t.Fatalf("reload with the interface's own key as a peer: %v, want ErrInvalidConfig", err)
	}
}

func TestReloadRefusesHookChanges(t *testing.T) {
	cfg := oneNetstackConfig(t)
	cfg.Interface.PostUp = []string{"echo up"}
	tun, err := Up(context.Background(), cfg, WithMode(ModeNetstack))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	next := *cfg
	next.Interface.PreUp = []string{"echo pre"}
	next.Interface.PostUp = []string{"echo up again"}
	next.Interface.PostDown = []string{"echo down"}
	err = tun.Reload(context.Background(), &next)
	if !errors.Is(err, ErrRestartNeeded) || !strings.Contains(err.Error(), "PreUp, PostUp, PostDown changed") ||
		!strings.Contains(err.Error(), "restart needed") {
		t.Fatalf("err = %v, want restart needed naming PreUp, PostUp and PostDown", err)
	}
	if got := tun.config().Interface.PostUp; len(got) != 1 || got[0] != "echo up" {
		t.Errorf("the refused reload changed the config: PostUp %q", got)
	}
}

func TestWriteFileSyncedSyncsBeforeRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wg0.conf")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var synced []string
	sync := func(f *os.File) error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.IsDir() {
			synced = append(synced, "dir")
			return f.Sync()
		}
		// At the file's sync, the new text is complete and path still old.
		b, err := os.ReadFile(f.Name())
		if err != nil {
			return err
		}
		old, _ := os.ReadFile(path)
		synced = append(synced, "file:"+string(b)+" path:"+string(old))
		return f.Sync()
	}
	if err := config.WriteFileSynced(path, []byte("new"), 0o600, sync); err != nil {
		t.Fatal(err)
	}
	if len(synced) == 0 || synced[0] != "file:new path:old" {
		t.Errorf("syncs %q, want the new file synced before it replaced the old", synced)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("content %q", b)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left in the directory: %v", entries)
	}
}
