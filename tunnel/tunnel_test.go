package tunnel

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgu-project/wgu/internal/leakcheck"
	"github.com/wgu-project/wgu/tunnel/config"
)

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t testing.TB) uint16 {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port)
}

// netstackPair brings up two netstack tunnels, a (10.0.0.1) and b
// (10.0.0.2), that reach each other over loopback.
func netstackPair(t testing.TB, opts ...UpOption) (a, b *Tunnel) {
	t.Helper()
	ka, _ := config.GeneratePrivateKey()
	kb, _ := config.GeneratePrivateKey()
	port := freeUDPPort(t)
	cfgA := &config.Config{Name: "a", Interface: config.Interface{PrivateKey: ka, ListenPort: port,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		Peers: []config.Peer{{PublicKey: kb.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}}}}
	cfgB := &config.Config{Name: "b", Interface: config.Interface{PrivateKey: kb,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}},
		Peers: []config.Peer{{PublicKey: ka.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")},
			Endpoint: config.Endpoint{Host: "127.0.0.1", Port: port}}}}
	ctx := context.Background()
	var err error
	opts = append(opts, WithMode(ModeNetstack))
	if a, err = Up(ctx, cfgA, opts...); err != nil {
		t.Fatal(err)
	}
	if b, err = Up(ctx, cfgB, opts...); err != nil {
		a.Close()
		t.Fatal(err)
	}
	return a, b
}

func TestNetstackTunnelsTalkAndCloseCleanly(t *testing.T) {
	before := leakcheck.Snapshot()
	a, b := netstackPair(t)

	ln, err := a.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	// Each request to /inflight, once served, reports here.
	const inflightRequests = 8
	arrived := make(chan struct{}, inflightRequests)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.RemoteAddr)
		if r.URL.Path == "/inflight" {
			arrived <- struct{}{}
		}
	})}
	go srv.Serve(ln)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://10.0.0.1/", nil)
	resp, err := b.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "hello 10.0.0.2:") {
		t.Fatalf("body %q", body)
	}
	if _, err := b.Ping(ctx, netip.MustParseAddr("10.0.0.1"), 1); err != nil {
		t.Fatal(err)
	}

	// Close with connections open: each has been served one request and
	// waits, kept alive, for the next.
	var inflight sync.WaitGroup
	for i := 0; i < inflightRequests; i++ {
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			c, err := b.DialContext(ctx, "tcp", "10.0.0.1:80")
			if err != nil {
				t.Errorf("dial: %v", err)
				arrived <- struct{}{} // do not keep the test waiting for it
				return
			}
			defer c.Close()
			io.WriteString(c, "GET /inflight HTTP/1.1\r\nHost: x\r\n\r\n")
			io.Copy(io.Discard, c)
		}()
	}
	for i := 0; i < inflightRequests; i++ {
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatalf("%d of %d requests served before the deadline", i, inflightRequests)
		}
	}
	srv.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	inflight.Wait()
	select {
	case <-a.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if _, err := a.Status(); err != ErrClosed {
		t.Errorf("Status after Close: %v, want ErrClosed", err)
	}
	leakcheck.Verify(t, before)
}

func TestSetAndRemovePeer(t *testing.T) {
	a, b := netstackPair(t)
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.Ping(ctx, netip.MustParseAddr("10.0.0.1"), 1); err != nil {
		t.Fatal(err)
	}
	kc, _ := config.GeneratePrivateKey()
	third := config.Peer{PublicKey: kc.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.3/32")}}
	if err := a.SetPeer(ctx, third); err != nil {
		t.Fatal(err)
	}
	// The existing session is untouched.
	if _, err := b.Ping(ctx, netip.MustParseAddr("10.0.0.1"), 2); err != nil {
		t.Fatalf("ping after adding a peer: %v", err)
	}
	if err := a.RemovePeer(third.PublicKey); err != nil {
		t.Fatal(err)
	}
	if err := a.RemovePeer(third.PublicKey); err == nil {
		t.Fatal("removing a missing peer succeeded")
	}
	if err := a.SetPeer(ctx, config.Peer{PublicKey: a.cfg.Interface.PrivateKey.PublicKey()}); err == nil {
		t.Fatal("adding the interface's own key as a peer succeeded")
	}
}

func TestSaveConfigOnDown(t *testing.T) {
	k, _ := config.GeneratePrivateKey()
	peer, _ := config.GeneratePrivateKey()
	path := t.TempDir() + "/wgs0.conf"
	text := "[Interface]\nPrivateKey = " + k.Reveal().String() + "\nAddress = 10.9.0.1/24\nSaveConfig = true\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tun, err := Up(ctx, cfg, WithMode(ModeNetstack), WithConfigPath(path))
	if err != nil {
		t.Fatal(err)
	}
	// A peer added at runtime (as `wg set` would) must be saved.
	if err := tun.SetPeer(ctx, config.Peer{PublicKey: peer.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.9.0.2/32")}}); err != nil {
		t.Fatal(err)
	}
	if err := tun.Down(ctx); err != nil {
		t.Fatal(err)
	}
	saved, err := config.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Peers) != 1 || saved.Peers[0].PublicKey != peer.PublicKey() || !saved.Interface.SaveConfig ||
		len(saved.Interface.Addresses) != 1 || saved.Interface.PrivateKey != k {
		t.Fatalf("saved config = %+v", saved)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved file mode: %v %v", fi.Mode(), err)
	}
}
