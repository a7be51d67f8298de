package tunnel

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

func statusPeer(t *testing.T, tun *Tunnel, k config.Key) (uapi.PeerStatus, bool) {
	t.Helper()
	st, err := tun.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Peers {
		if p.PublicKey == k {
			return p, true
		}
	}
	return uapi.PeerStatus{}, false
}

func TestReloadKeepsStreamThroughChangedPeer(t *testing.T) {
	a, b := netstackPair(t)
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Peer C, which the reload removes.
	kc, _ := config.GeneratePrivateKey()
	peerC := config.Peer{PublicKey: kc.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.3/32")}}
	cfg := *a.cfg
	cfg.Peers = append(cfg.Peers[:len(cfg.Peers):len(cfg.Peers)], peerC)
	if err := a.Reload(ctx, &cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := statusPeer(t, a, peerC.PublicKey); !ok {
		t.Fatal("peer C was not added")
	}

	// A stream from b to a through peer A (= b, seen from a).
	ln, err := a.Listen("tcp", "10.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		got <- r
	}()
	conn, err := b.DialContext(ctx, "tcp", "10.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	const size, chunk = 4 << 20, 32 << 10
	sent := sha256.New()
	halfway := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() {
		rng := rand.NewChaCha8([32]byte{1})
		buf := make([]byte, chunk)
		for i := 0; i < size/chunk; i++ {
			rng.Read(buf)
			sent.Write(buf)
			if _, err := conn.Write(buf); err != nil {
				writeErr <- err
				return
			}
			if i == size/chunk/2 {
				close(halfway)
			}
			time.Sleep(2 * time.Millisecond)
		}
		writeErr <- conn.Close()
	}()
	select {
	case <-halfway:
	case err := <-writeErr:
		t.Fatalf("stream ended early: %v", err)
	}
	peerA := a.cfg.Peers[0].PublicKey
	before, _ := statusPeer(t, a, peerA)

	// The reload: add B, remove C, change A's keepalive.
	kb2, _ := config.GeneratePrivateKey()
	peerB := config.Peer{PublicKey: kb2.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.4/32")},
		Endpoint: config.Endpoint{Host: "127.0.0.1", Port: 9}}
	next := *a.cfg
	next.Peers = []config.Peer{a.cfg.Peers[0], peerB}
	next.Peers[0].PersistentKeepalive = 7
	if err := a.Reload(ctx, &next); err != nil {
		t.Fatal(err)
	}

	if err := <-writeErr; err != nil {
		t.Fatalf("writing: %v", err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.n != size || string(r.sum[:]) != string(sent.Sum(nil)) {
			t.Fatalf("received %d bytes (err %v), checksum match %v", r.n, r.err, string(r.sum[:]) == string(sent.Sum(nil)))
		}
	case <-ctx.Done():
		t.Fatal("stream did not complete")
	}

	after, ok := statusPeer(t, a, peerA)
	if !ok {
		t.Fatal("peer A is gone")
	}
	if after.PersistentKeepalive != 7 {
		t.Errorf("peer A keepalive = %d, want 7", after.PersistentKeepalive)
	}
	// Updated in place, not re-created: the counters and the session go on.
	if after.RxBytes < before.RxBytes || !after.LastHandshake.Equal(before.LastHandshake) {
		t.Errorf("peer A was re-created: rx %d -> %d, handshake %v -> %v", before.RxBytes, after.RxBytes, before.LastHandshake, after.LastHandshake)
	}
	if _, ok := statusPeer(t, a, peerB.PublicKey); !ok {
		t.Error("peer B was not added")
	}
	if _, ok := statusPeer(t, a, peerC.PublicKey); ok {
		t.Error("peer C was not removed")
	}
}

func TestReloadRefusesLiveImpossibleChanges(t *testing.T) {
	a, b := netstackPair(t)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	next := *a.cfg
	next.Interface.Addresses = []netip.Prefix{netip.MustParsePrefix("10.0.0.9/24")}
	if err := a.Reload(ctx, &next); !errors.Is(err, ErrRestartNeeded) || !strings.Contains(err.Error(), "Address") {
		t.Errorf("address change in netstack mode: %v, want ErrRestartNeeded", err)
	}
	next = *a.cfg
	next.Name = "other"
	if err := a.Reload(ctx, &next); err == nil {
		t.Error("reload with another interface's config succeeded")
	}
	if err := a.ReloadConfig(ctx); !errors.Is(err, ErrNoLoader) {
		t.Errorf("ReloadConfig without a loader: %v", err)
	}
	a.Close()
	if err := a.Reload(ctx, a.cfg); !errors.Is(err, ErrClosed) {
		t.Errorf("Reload after Close: %v", err)
	}
}

func TestReloadUAPI(t *testing.T) {
	k := func() config.Key { x, _ := config.GeneratePrivateKey(); return x.Reveal() }
	priv, pa, pb, pc := k(), k().PublicKey(), k().PublicKey(), k().PublicKey()
	pfx := netip.MustParsePrefix
	old := &config.Config{Interface: config.Interface{PrivateKey: priv.Secret(), ListenPort: 1}, Peers: []config.Peer{
		{PublicKey: pa, AllowedIPs: []netip.Prefix{pfx("10.0.0.2/32")}, Endpoint: config.Endpoint{Host: "192.0.2.1", Port: 5}},
		{PublicKey: pc, AllowedIPs: []netip.Prefix{pfx("10.0.0.3/32")}},
	}}
	next := &config.Config{Interface: config.Interface{PrivateKey: priv.Secret(), ListenPort: 1}, Peers: []config.Peer{
		{PublicKey: pa, AllowedIPs: []netip.Prefix{pfx("10.0.0.2/32"), pfx("10.9.0.0/16")}, Endpoint: config.Endpoint{Host: "192.0.2.1", Port: 5}, PersistentKeepalive: 25},
		{PublicKey: pb, AllowedIPs: []netip.Prefix{pfx("10.0.0.4/32")}},
	}}
	body, summary, err := reloadUAPI(context.Background(), &fakeResolver{}, old, next, []config.Key{pa, pc})
	if err != nil {
		t.Fatal(err)
	}
	want := "public_key=" + pc.Hex() + "\nremove=true\n" +
		"public_key=" + pa.Hex() + "\nupdate_only=true\npersistent_keepalive_interval=25\n" +
		"replace_allowed_ips=true\nallowed_ip=10.0.0.2/32\nallowed_ip=10.9.0.0/16\n" +
		"public_key=" + pb.Hex() + "\npersistent_keepalive_interval=0\nreplace_allowed_ips=true\nallowed_ip=10.0.0.4/32\n" +
		"preshared_key=" + config.Key{}.Hex() + "\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	if summary != "1 peer(s) added, 1 peer(s) removed, 1 peer(s) updated" {
		t.Errorf("summary %q", summary)
	}
	// Nothing changed: nothing sent.
	if body, _, _ := reloadUAPI(context.Background(), &fakeResolver{}, next, next, []config.Key{pa, pb}); body != "" {
		t.Errorf("no-op reload sends %q", body)
	}
}

// Reload lists the device's peers only when something besides Up and Reload
// may have changed them; whatever changed them, Reload brings the device
// back to the config: peers added at run time go, peers removed at run time
// come back.
func TestReloadAfterRunTimeChanges(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "run") // Up makes it 0700
	cfg := oneNetstackConfig(t)
	tun, err := Up(ctx, cfg, WithMode(ModeNetstack), WithUAPISocket(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	sock := rundir.SocketPath(dir, cfg.Name)
	p := cfg.Peers[0]
	keepalive := uint16(0)
	reload := func(step string) {
		t.Helper()
		keepalive++
		next := *cfg
		next.Peers = []config.Peer{p}
		next.Peers[0].PersistentKeepalive = keepalive
		if err := tun.Reload(ctx, &next); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		st, err := tun.Status()
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Peers) != 1 || st.Peers[0].PublicKey != p.PublicKey || st.Peers[0].PersistentKeepalive != keepalive {
			t.Fatalf("%s: after the reload the device has %+v, want only %s with keepalive %d", step, st.Peers, p.PublicKey, keepalive)
		}
		if tun.peersTouched.Load() {
			t.Fatalf("%s: the device still counts as changed after a reload", step)
		}
	}
	other := func() config.Key { k, _ := config.GeneratePrivateKey(); return k.PublicKey() }

	reload("nothing changed at run time")
	if _, err := uapi.Get(ctx, sock); err != nil {
		t.Fatal(err)
	}
	if tun.peersTouched.Load() {
		t.Fatal("a UAPI get counts as a change of peers")
	}
	if err := uapi.Set(ctx, sock, "public_key="+other().Hex()+"\nallowed_ip=10.0.0.7/32\n"); err != nil {
		t.Fatal(err)
	}
	reload("a peer added through the UAPI socket")
	if err := uapi.Set(ctx, sock, "public_key="+p.PublicKey.Hex()+"\nremove=true\n"); err != nil {
		t.Fatal(err)
	}
	reload("the peer removed through the UAPI socket")
	if err := tun.SetPeer(ctx, config.Peer{PublicKey: other()}); err != nil {
		t.Fatal(err)
	}
	reload("a peer added by SetPeer")
	if err := tun.RemovePeer(p.PublicKey); err != nil {
		t.Fatal(err)
	}
	reload("the peer removed by RemovePeer")
}

// TestMatchPeers pairs peers by position where the files agree and by key
// where they do not, for the device as Reload left it and as run-time
// changes left it.
func TestMatchPeers(t *testing.T) {
	keys := map[string]config.Key{}
	key := func(name string) config.Key {
		if _, ok := keys[name]; !ok {
			k, _ := config.GeneratePrivateKey()
			keys[name] = k.PublicKey()
		}
		return keys[name]
	}
	peers := func(names string) []config.Peer {
		var out []config.Peer
		for _, n := range strings.Split(names, "") {
			out = append(out, config.Peer{PublicKey: key(n)})
		}
		return out
	}
	name := func(k config.Key) string {
		for n, v := range keys {
			if v == k {
				return n
			}
		}
		return "?"
	}
	for _, tt := range []struct {
		old, next, live string
		// For each peer of next: the old peer it pairs with, or "+" when
		// the device lacks it and old has it, "-" when neither has it.
		want    string
		removed string
	}{
		{"abcd", "abcd", "abcd", "abcd", ""},
		{"abcd", "acxd", "abcd", "ac-d", "b"},
		{"abcd", "dcba", "abcd", "dcba", ""},
		{"abcd", "abcde", "abcd", "abcd-", ""},
		{"abcd", "bcd", "abcd", "bcd", "a"},
		{"", "ab", "", "--", ""},
		{"ab", "", "ab", "", "ab"},
		// Run-time changes: b removed, y added.
		{"abc", "abcz", "acy", "a+c-", "y"},
	} {
		old, next := peers(tt.old), peers(tt.next)
		var live []config.Key
		for _, p := range peers(tt.live) {
			live = append(live, p.PublicKey)
		}
		m := matchPeers(old, next, live)
		var got, removed strings.Builder
		for i := range next {
			j, inOld := m.prev(i)
			switch {
			case j >= 0:
				got.WriteString(name(old[j].PublicKey))
			case inOld:
				got.WriteString("+")
			default:
				got.WriteString("-")
			}
		}
		for _, k := range m.removed {
			removed.WriteString(name(k))
		}
		if got.String() != tt.want || removed.String() != tt.removed {
			t.Errorf("old %q next %q live %q: pairs %q removed %q, want %q and %q", tt.old, tt.next, tt.live, got.String(), removed.String(), tt.want, tt.removed)
		}
	}
}

func TestSameAllowedIPs(t *testing.T) {
	pfx := netip.MustParsePrefix
	cfg := func(allowed ...[]netip.Prefix) *config.Config {
		c := &config.Config{}
		for _, a := range allowed {
			c.Peers = append(c.Peers, config.Peer{AllowedIPs: a})
		}
		return c
	}
	a, b := []netip.Prefix{pfx("10.0.0.2/32")}, []netip.Prefix{pfx("10.0.0.3/32"), pfx("10.9.0.0/16")}
	for _, tt := range []struct {
		old, next *config.Config
		want      bool
	}{
		{cfg(a, b), cfg(a, b), true},
		{cfg(a, b), cfg(a, a), false},
		{cfg(a, b), cfg(a), false},
		{cfg(a), cfg(a, nil), false},
		{cfg(a, b), cfg(b, a), false}, // the same routes, but checked by Reconfigure
	} {
		if got := sameAllowedIPs(tt.old, tt.next); got != tt.want {
			t.Errorf("sameAllowedIPs(%v, %v) = %v, want %v", tt.old.Peers, tt.next.Peers, got, tt.want)
		}
	}
}
