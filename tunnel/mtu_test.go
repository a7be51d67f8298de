package tunnel

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgu-project/wgu/internal/hostcfg"
)

// lockedBuffer is a log sink the tunnel's goroutines and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// heldProbe is a path MTU probe that answers only when the test says so.
type heldProbe struct {
	asked  chan int // the size of each probe, as it starts
	answer chan int // the path MTU to answer with
}

func newHeldProbe() *heldProbe {
	return &heldProbe{asked: make(chan int, 8), answer: make(chan int)}
}

func (h *heldProbe) probe(ctx context.Context, _ netip.AddrPort, size int) (int, error) {
	h.asked <- size
	select {
	case pmtu := <-h.answer:
		return pmtu, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Up with MTU unset does not wait for the path MTU probe: it returns at
// the default MTU, and the MTU is lowered when the probe answers.
func TestPathMTUFittedAfterUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held := newHeldProbe()
	var logged lockedBuffer
	cfg := oneNetstackConfig(t) // MTU unset; endpoint 127.0.0.1:9
	tun, err := Up(ctx, cfg, WithMode(ModeNetstack), WithLogger(slog.New(slog.NewTextHandler(&logged, nil))),
		func(o *options) { o.probePathMTU = held.probe })
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	// Up returned while the probe has not answered.
	select {
	case size := <-held.asked:
		if size != hostcfg.DefaultMTU+60 {
			t.Errorf("probed with %d bytes, want %d (the MTU plus IPv4 WireGuard overhead)", size, hostcfg.DefaultMTU+60)
		}
	case <-ctx.Done():
		t.Fatal("no path MTU probe started")
	}
	if mtu, _ := tun.ns.MTU(); mtu != hostcfg.DefaultMTU {
		t.Fatalf("MTU %d while the probe runs, want the default %d", mtu, hostcfg.DefaultMTU)
	}
	if mtu := tun.ns.Stack().NICInfo()[1].MTU; mtu != hostcfg.DefaultMTU {
		t.Fatalf("stack MTU %d while the probe runs, want %d", mtu, hostcfg.DefaultMTU)
	}

	held.answer <- 1400 // a 1400-byte link on the way
	const want = 1400 - 60
	for {
		if mtu, _ := tun.ns.MTU(); mtu == want {
			break
		}
		select {
		case <-ctx.Done():
			mtu, _ := tun.ns.MTU()
			t.Fatalf("MTU %d after the probe answered 1400, want %d; log:\n%s", mtu, want, logged.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if mtu := tun.ns.Stack().NICInfo()[1].MTU; mtu != want {
		t.Errorf("stack MTU %d, want %d", mtu, want)
	}
	// Logged once the change is made (the probe's own line comes first).
	for !strings.Contains(logged.String(), "MTU lowered") {
		select {
		case <-ctx.Done():
			t.Fatalf("the change of MTU was not logged:\n%s", logged.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if log := logged.String(); !strings.Contains(log, "old=1420 mtu=1340") {
		t.Errorf("log does not name the old and new MTU:\n%s", log)
	}
}

// Close does not wait for a probe that has not answered, and an explicit
// MTU is never probed.
func TestPathMTUProbeStopsAtCloseAndSkipsExplicitMTU(t *testing.T) {
	held := newHeldProbe()
	tun, err := Up(context.Background(), oneNetstackConfig(t), WithMode(ModeNetstack),
		func(o *options) { o.probePathMTU = held.probe })
	if err != nil {
		t.Fatal(err)
	}
	<-held.asked
	closed := make(chan error, 1)
	go func() { closed <- tun.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for the path MTU probe")
	}

	cfg := oneNetstackConfig(t)
	cfg.Interface.MTU = 1380
	tun, err = Up(context.Background(), cfg, WithMode(ModeNetstack), func(o *options) { o.probePathMTU = held.probe })
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	select {
	case <-held.asked:
		t.Error("the path was probed although the config sets MTU")
	case <-time.After(300 * time.Millisecond):
	}
	if mtu, _ := tun.ns.MTU(); mtu != 1380 {
		t.Errorf("MTU %d, want the config's 1380", mtu)
	}
}
