package tunnel

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wgu-project/wgu/internal/leakcheck"
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

// withRefreshRounds makes the tunnel report each finished endpoint refresh
// round on the returned channel. A round is dropped while the previous one
// waits unread: the refresh goroutine must not block on the test.
func withRefreshRounds() (UpOption, <-chan struct{}) {
	rounds := make(chan struct{}, 1)
	return func(o *options) {
		o.refresh.afterRound = func() {
			select {
			case rounds <- struct{}{}:
			default:
			}
		}
	}, rounds
}

func TestDDNSMovesStalePeerToNewAddress(t *testing.T) {
	before := leakcheck.Snapshot()
	ka, _ := config.GeneratePrivateKey()
	kp, _ := config.GeneratePrivateKey()
	old := netip.MustParseAddr("192.0.2.1")
	r := &switchResolver{addrs: map[string][]netip.Addr{"ip": {old}, "ip4": {old}}}
	cfg := &config.Config{Name: "d", Interface: config.Interface{PrivateKey: ka,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		Peers: []config.Peer{{PublicKey: kp.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
			Endpoint: config.Endpoint{Host: "peer.example", Port: 51820}}}}
	observe, rounds := withRefreshRounds()
	tun, err := Up(context.Background(), cfg, WithMode(ModeNetstack), WithResolver(r),
		WithEndpointRefresh(20*time.Millisecond, 100*time.Millisecond), observe)
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
	// The peer moves in the first round after its handshake is stale (100 ms).
	deadline := time.After(5 * time.Second)
	awaitEndpoint := func(want string) {
		t.Helper()
		for endpoint() != want {
			select {
			case <-rounds:
			case <-deadline:
				t.Fatalf("endpoint still %s, want %s after the name moved", endpoint(), want)
			}
		}
	}
	awaitEndpoint("[2001:db8::5]:51820")
	// And back to IPv4, which is preferred when there is one.
	r.set("ip4", netip.MustParseAddr("198.51.100.7"))
	awaitEndpoint("198.51.100.7:51820")
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	leakcheck.Verify(t, before)
}

func TestDDNSLeavesFreshPeersAlone(t *testing.T) {
	ka, _ := config.GeneratePrivateKey()
	kp, _ := config.GeneratePrivateKey()
	addr := netip.MustParseAddr("192.0.2.1")
	r := &switchResolver{addrs: map[string][]netip.Addr{"ip": {addr}}}
	cfg := &config.Config{Name: "d", Interface: config.Interface{PrivateKey: ka,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		Peers: []config.Peer{{PublicKey: kp.PublicKey(), Endpoint: config.Endpoint{Host: "peer.example", Port: 1}}}}
	// Staleness far away: the refresh rounds look nothing up beyond Up's.
	observe, rounds := withRefreshRounds()
	tun, err := Up(context.Background(), cfg, WithMode(ModeNetstack), WithResolver(r),
		WithEndpointRefresh(10*time.Millisecond, time.Hour), observe)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	// Several rounds, so that a lookup in any round but the first shows too.
	deadline := time.After(10 * time.Second)
	for i := 0; i < 3; i++ {
		select {
		case <-rounds:
		case <-deadline:
			t.Fatalf("%d refresh rounds in 10 s, want 3 (every 10 ms)", i)
		}
	}
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.asked) != 1 {
		t.Errorf("lookups %v, want only Up's", r.asked)
	}
}
