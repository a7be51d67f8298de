package hostcfg

import (
	"context"
	"slices"
	"testing"

	"github.com/wgu-project/wgu/tunnel/config"
)

// TestReconfigureRoutes follows a hub through reloads that each change a
// few peers, and checks after each that the link's routes are what a fresh
// `up` of that config would have made: a prefix a removed route or address
// covered gets a route of its own.
func TestReconfigureRoutes(t *testing.T) {
	f := newHostFixture(t)
	peer := func(allowed ...string) config.Peer { return config.Peer{AllowedIPs: mustPrefixes(t, allowed...)} }
	cfg := func(addr string, peers ...config.Peer) *config.Config {
		return &config.Config{Name: "wgt0", Interface: config.Interface{Addresses: mustPrefixes(t, addr)}, Peers: peers}
	}
	a, b := peer("192.168.77.0/24"), peer("192.168.77.5/32")
	c, e := peer("10.9.0.7/32"), peer("10.9.0.9/32")
	st, err := f.configure(t, cfg("10.9.0.1/24", a, b, c), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name string
		cfg  *config.Config
		want []string
	}{
		// As wg-quick, up routes B too: it is checked first, longest first.
		{"unchanged", cfg("10.9.0.1/24", a, b, c), []string{"192.168.77.0/24 table 254", "192.168.77.5/32 table 254"}},
		// B was covered by A's route.
		{"covering peer removed", cfg("10.9.0.1/24", b, c), []string{"192.168.77.5/32 table 254"}},
		{"peers added and changed", cfg("10.9.0.1/24", b, peer("10.9.1.7/32"), e, peer("192.168.80.0/24")),
			[]string{"10.9.1.7/32 table 254", "192.168.77.5/32 table 254", "192.168.80.0/24 table 254"}},
		// E was covered by the old address's subnet route.
		{"address moved", cfg("10.8.0.1/24", b, peer("10.9.1.7/32"), e, peer("192.168.80.0/24")),
			[]string{"10.9.0.9/32 table 254", "10.9.1.7/32 table 254", "192.168.77.5/32 table 254", "192.168.80.0/24 table 254"}},
		{"peer removed", cfg("10.8.0.1/24", b, e), []string{"10.9.0.9/32 table 254", "192.168.77.5/32 table 254"}},
		// Removed first: added first, the new address would be a secondary
		// of the old one's subnet, which goes with the primary.
		{"address moved in its subnet", cfg("10.8.0.2/24", b, e), []string{"10.9.0.9/32 table 254", "192.168.77.5/32 table 254"}},
		// With its last IPv4 address, the kernel drops the link's IPv4 routes.
		{"IPv4 address removed", cfg("fd00:9::1/64", b, e), []string{"10.9.0.9/32 table 254", "192.168.77.5/32 table 254"}},
	} {
		f.ns.run(t, func() error {
			return st.Reconfigure(context.Background(), testLogger(t), Params{Interface: "wgt0", Config: step.cfg})
		})
		if got := f.routesOf(t); !slices.Equal(got, step.want) {
			t.Errorf("%s: routes %q, want %q", step.name, got, step.want)
		}
		var want []string
		for _, a := range step.cfg.Interface.Addresses {
			want = append(want, a.String())
		}
		if _, _, addrs := f.linkFacts(t); !slices.Equal(addrs, want) {
			t.Errorf("%s: addresses %q, want %q", step.name, addrs, want)
		}
	}
	f.undo(t, st)
	f.assertRestored(t)
}

// TestReconfigureRoutesOwnTable moves the only IPv4 address of a link whose
// routes are in a table of their own: the kernel drops them from every
// table with it, and Reconfigure adds them again.
func TestReconfigureRoutesOwnTable(t *testing.T) {
	f := newHostFixture(t)
	cfg := func(addr string) *config.Config {
		return &config.Config{Name: "wgt0", Interface: config.Interface{Addresses: mustPrefixes(t, addr), Table: "1234"},
			Peers: []config.Peer{{AllowedIPs: mustPrefixes(t, "192.168.77.0/24")}, {AllowedIPs: mustPrefixes(t, "10.9.0.7/32")}}}
	}
	st, err := f.configure(t, cfg("10.9.0.1/24"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.9.0.7/32 table 1234", "192.168.77.0/24 table 1234"}
	if got := f.routesOf(t); !slices.Equal(got, want) {
		t.Fatalf("after up: routes %q, want %q", got, want)
	}
	f.ns.run(t, func() error {
		return st.Reconfigure(context.Background(), testLogger(t), Params{Interface: "wgt0", Config: cfg("10.8.0.1/24")})
	})
	if got := f.routesOf(t); !slices.Equal(got, want) {
		t.Errorf("after the address moved: routes %q, want %q", got, want)
	}
	f.undo(t, st)
	f.assertRestored(t)
}
