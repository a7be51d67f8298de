package tunnel

import (
	"context"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
)

// switchResolver answers one name with an address the test can change.
type switchResolver struct {
	mu    sync.Mutex
	addrs map[string][]netip.Addr // by network: "ip", "ip4", "ip6"
	asked []string
}

func (r *switchResolver) set(network string, addrs ...netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs[network] = addrs
}

func (r *switchResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, network)
	if host != "peer.example" {
		return nil, errNoSuchHost
	}
	if a := r.addrs[network]; len(a) > 0 {
		return a, nil
	}
	return nil, errNoSuchHost
}

func TestDDNSMovesStalePeerToNewAddress(t *testing.T) {
	before := runtime.NumGoroutine()
	ka, _ := config.GeneratePrivateKey()
	kp, _ := config.GeneratePrivateKey()
	old := netip.MustParseAddr("192.0.2.1")
	r := &switchResolver{addrs: map[string][]netip.Addr{"ip": {old}, "ip4": {old}}}
	cfg := &config.Config{Name: "d", Interface: config.Interface{PrivateKey: ka,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		Peers: []config.Peer{{PublicKey: kp.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
			Endpoint: config.Endpoint{Host: "peer.example", Port: 51820}}}}
	tun, err := Up(context.Background(), cfg, WithMode(ModeNetstack), WithResolver(r),
		WithEndpointRefresh(20*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	endpoint := func() string {
		p, _ := statusPeer(t, tun, kp.PublicKey())
		return p.Endpoint.String()
	}
	if got := endpoint(); got != "192.0.2.1:51820" {
		t.Fatalf("endpoint after Up = %s", got)
	}
	// The name moves to an IPv6-only address: the v4 lookup fails, v6 answers.
	r.set("ip4")
	r.set("ip6", netip.MustParseAddr("2001:db8::5"))
	deadline := time.Now().Add(5 * time.Second)
	for endpoint() != "[2001:db8::5]:51820" {
		if time.Now().After(deadline) {
			t.Fatalf("endpoint still %s after the name moved", endpoint())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And back to IPv4, which is preferred when there is one.
	r.set("ip4", netip.MustParseAddr("198.51.100.7"))
	for endpoint() != "198.51.100.7:51820" {
		if time.Now().After(deadline) {
			t.Fatalf("endpoint still %s, want the new IPv4 address", endpoint())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestDDNSLeavesFreshPeersAlone(t *testing.T) {
	ka, _ := config.GeneratePrivateKey()
	kp, _ := config.GeneratePrivateKey()
	addr := netip.MustParseAddr("192.0.2.1")
	r := &switchResolver{addrs: map[string][]netip.Addr{"ip": {addr}}}
	cfg := &config.Config{Name: "d", Interface: config.Interface{PrivateKey: ka,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		Peers: []config.Peer{{PublicKey: kp.PublicKey(), Endpoint: config.Endpoint{Host: "peer.example", Port: 1}}}}
	// Staleness far away: no lookups beyond Up's.
	tun, err := Up(context.Background(), cfg, WithMode(ModeNetstack), WithResolver(r),
		WithEndpointRefresh(10*time.Millisecond, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	tun.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.asked) != 1 {
		t.Errorf("lookups %v, want only Up's", r.asked)
	}
}
