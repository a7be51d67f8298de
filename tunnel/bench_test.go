package tunnel

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/wgu-project/wgu/tunnel/config"
	"golang.zx2c4.com/wireguard/conn"
)

// benchConfig is a hub config with many peers: parsing and UAPI rendering
// scale with peers.
func benchConfig(b *testing.B, peers int) string {
	b.Helper()
	k, _ := config.GeneratePrivateKey()
	var s strings.Builder
	s.WriteString("[Interface]\nPrivateKey = " + k.String() + "\nAddress = 10.0.0.1/16\nListenPort = 51820\n")
	for i := 0; i < peers; i++ {
		pk, _ := config.GeneratePrivateKey()
		s.WriteString("\n[Peer]\nPublicKey = " + pk.PublicKey().String() + "\n")
		s.WriteString("AllowedIPs = " + netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String() + "/32\n")
		s.WriteString("Endpoint = 192.0.2.1:51820\nPersistentKeepalive = 25\n")
	}
	return s.String()
}

func BenchmarkParseConfig100Peers(b *testing.B) {
	text := benchConfig(b, 100)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.ParseConfig("bench.conf", strings.NewReader(text)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUAPISet100Peers(b *testing.B) {
	cfg, err := config.ParseConfig("bench.conf", strings.NewReader(benchConfig(b, 100)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		if _, err := cfg.UAPISet(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatus100Peers is the UAPI get path: the device's state read
// and parsed into a Status, as `wgu show` and the metrics endpoint do it.
func BenchmarkStatus100Peers(b *testing.B) {
	cfg, err := config.ParseConfig("bench.conf", strings.NewReader(benchConfig(b, 100)))
	if err != nil {
		b.Fatal(err)
	}
	// No endpoints: this tunnel must send nothing anywhere.
	cfg.Name = "bench"
	cfg.Interface.ListenPort = 0
	for i := range cfg.Peers {
		cfg.Peers[i].Endpoint = config.Endpoint{}
		cfg.Peers[i].PersistentKeepalive = 0
	}
	t, err := Up(context.Background(), cfg, WithMode(ModeNetstack))
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	b.ReportAllocs()
	for b.Loop() {
		st, err := t.Status()
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Peers) != 100 {
			b.Fatalf("status has %d peers, want 100", len(st.Peers))
		}
	}
}

// BenchmarkNetstackTCP measures the netstack packet path: one TCP stream
// between two netstack tunnels in this process, over loopback UDP. The
// bytes/s figure is the tunnel's goodput; allocs/op are per 64 KiB written.
// The sub-benchmarks run it on wgu's bind and, as the reference, on
// wireguard-go's StdNetBind.
func BenchmarkNetstackTCP(b *testing.B) {
	b.Run("bind=wgu", func(b *testing.B) { benchmarkNetstackTCP(b) })
	b.Run("bind=wireguard-go", func(b *testing.B) {
		benchmarkNetstackTCP(b, func(o *options) { o.newBind = conn.NewStdNetBind })
	})
}

func benchmarkNetstackTCP(b *testing.B, opts ...UpOption) {
	a, c := netstackPair(b, opts...)
	defer a.Close()
	defer c.Close()
	ln, err := a.Listen("tcp", "10.0.0.1:9000")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer s.Close()
		_, err = io.Copy(io.Discard, s)
		done <- err
	}()
	conn, err := c.DialContext(context.Background(), "tcp", "10.0.0.1:9000")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	// Warm up: handshake, window growth.
	for i := 0; i < 64; i++ {
		conn.Write(buf)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	conn.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	// Packets the stacks sent faster than wireguard-go took them.
	b.ReportMetric(float64(a.ns.Dropped()+c.ns.Dropped())/float64(b.N), "drops/op")
}

// BenchmarkReloadOnePeer10k is a hub with 10,000 peers reloading a config
// in which one peer's keepalive changed (back and forth), on a netstack.
func BenchmarkReloadOnePeer10k(b *testing.B) {
	const peers = 10000
	cfg, err := config.ParseConfig("bench.conf", strings.NewReader(benchConfig(b, peers)))
	if err != nil {
		b.Fatal(err)
	}
	cfg.Name = "bench"
	cfg.Interface.ListenPort = 0
	for i := range cfg.Peers {
		cfg.Peers[i].Endpoint = config.Endpoint{}
		cfg.Peers[i].PersistentKeepalive = 0
	}
	t, err := Up(context.Background(), cfg, WithMode(ModeNetstack))
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	b.ReportAllocs()
	ka := uint16(0)
	for b.Loop() {
		next := *cfg
		next.Peers = append([]config.Peer(nil), cfg.Peers...)
		ka = 21 - ka
		next.Peers[peers/2].PersistentKeepalive = ka
		if err := t.Reload(context.Background(), &next); err != nil {
			b.Fatal(err)
		}
	}
}
