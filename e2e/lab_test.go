package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLabLinkPingTransfer(t *testing.T) {
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := lab.Netns("a"), lab.Netns("b")
	lab.Link(a, b, netip.MustParsePrefix("10.9.0.1/24"), netip.MustParsePrefix("10.9.0.2/24"))
	if err := a.Ping(ctx, netip.MustParseAddr("10.9.0.2")); err != nil {
		t.Fatal(err)
	}
	mustTransfer(t, ctx, a, b, "10.9.0.2:5001", 4<<20)
	mustTransfer(t, ctx, b, a, "10.9.0.1:5001", 4<<20)
}

func TestLabNAT(t *testing.T) {
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	home, router, server := lab.Netns("home"), lab.Netns("router"), lab.Netns("server")
	lab.Link(router, home, netip.MustParsePrefix("192.168.50.1/24"), netip.MustParsePrefix("192.168.50.2/24"))
	lab.Link(router, server, netip.MustParsePrefix("172.31.0.254/24"), netip.MustParsePrefix("172.31.0.1/24"))
	lab.NAT(router, home, server)

	if err := home.Ping(ctx, netip.MustParseAddr("172.31.0.1")); err != nil {
		t.Fatal(err)
	}
	// The server has no route to the home network: only masquerading
	// makes the reply find its way, and the server sees the router.
	tr := startTransfer(t, ctx, home, server, "172.31.0.1:5002", 1<<20, 0)
	if err := tr.check(ctx); err != nil {
		t.Fatal(err)
	}
	if peer := outputLine(tr.sink.Stdout(), "peer "); !strings.HasPrefix(peer, "peer 172.31.0.254:") {
		t.Errorf("server saw %q, want the router's address 172.31.0.254", peer)
	}
	if _, _, err := server.Run(ctx, "ping", "-c", "1", "-W", "1", "192.168.50.2"); err == nil {
		t.Error("server reached the home host behind the NAT directly")
	}
	if out := router.MustRun("nft", "list", "table", "ip", "nat"); !strings.Contains(out, "masquerade") {
		t.Errorf("router nat table has no masquerade:\n%s", out)
	}
}

func TestLabCleanup(t *testing.T) {
	RequireLab(t)
	var names []string
	var prefix string
	// Durations no other test on this machine sleeps for, so that only
	// our processes are looked for below.
	sleep300 := fmt.Sprintf("300.%06d", os.Getpid())
	sleep301 := fmt.Sprintf("301.%06d", os.Getpid())
	t.Run("lab", func(t *testing.T) {
		lab := NewLab(t)
		prefix = lab.Prefix()
		a, b := lab.Netns("a"), lab.Netns("b")
		lab.Link(a, b, netip.MustParsePrefix("10.9.1.1/24"), netip.MustParsePrefix("10.9.1.2/24"))
		a.Start("sleep", sleep300)
		// A detached process (like a wgu daemon) must go too.
		a.Start("setsid", "-f", "sleep", sleep301)
		names = []string{a.Name, b.Name}
	})
	if prefix == "" || len(prefix) > 7 {
		t.Fatalf("prefix %q: want 1..7 characters", prefix)
	}
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		for _, n := range names {
			if e.Name() == n {
				t.Errorf("namespace %s still exists after cleanup", n)
			}
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		cmdline, err := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		if err != nil {
			continue
		}
		c := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.HasPrefix(c, "sleep "+sleep300) || strings.HasPrefix(c, "sleep "+sleep301) {
			t.Errorf("process %s (%s) survived lab cleanup", p.Name(), c)
		}
	}
}
