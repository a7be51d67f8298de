package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a hub and two spokes in this process (no root, loopback only) and show them talk",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "give up after this long"},
		},
		Action: func(c *cli.Context) error {
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			return runDemo(ctx, os.Stdout, newLogger(io.Discard))
		},
	}
}

// demoPeer is one machine of the demo: a name, its keys and its tunnel address.
type demoPeer struct {
	name string
	role string
	key  config.SecretKey
	addr netip.Prefix
}

// runDemo plays the seed scenario in one process: a VPS hub, a home lab and a
// phone, as netstack tunnels talking over loopback UDP. The phone fetches a
// page from a web service on the home lab, through the hub.
func runDemo(ctx context.Context, out io.Writer, log *slog.Logger) error {
	step := func(format string, args ...any) { fmt.Fprintf(out, "\n==> "+format+"\n", args...) }

	step("Generating keys")
	peers := []*demoPeer{
		{name: "hub", role: "the VPS, public IP, routes between its peers"},
		{name: "homelab", role: "behind NAT, runs a web service on 10.0.0.2:8096"},
		{name: "phone", role: "on the road"},
	}
	for i, p := range peers {
		k, err := config.GeneratePrivateKey()
		if err != nil {
			return err
		}
		p.key = k
		p.addr = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 24)
		fmt.Fprintf(out, "    %-8s public key %s  (%s)\n", p.name, k.PublicKey(), p.role)
	}
	hub, homelab, phone := peers[0], peers[1], peers[2]

	// The hub listens on a port the kernel picks, so the demo never clashes
	// with a real WireGuard on 51820; the spokes learn it after it is up.
	hubCfg := &config.Config{Name: "hub", Interface: config.Interface{
		PrivateKey: hub.key,
		Addresses:  []netip.Prefix{hub.addr},
	}}
	for _, spoke := range []*demoPeer{homelab, phone} {
		hubCfg.Peers = append(hubCfg.Peers, config.Peer{
			PublicKey:  spoke.key.PublicKey(),
			AllowedIPs: []netip.Prefix{netip.PrefixFrom(spoke.addr.Addr(), 32)},
		})
	}
	step("Starting the hub (netstack mode: no root, no /dev/net/tun)")
	hubT, err := tunnel.Up(ctx, hubCfg, tunnel.WithMode(tunnel.ModeNetstack), tunnel.WithLogger(log.With("peer", "hub")))
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	defer hubT.Close()
	st, err := hubT.Status()
	if err != nil {
		return err
	}
	hubEndpoint := config.Endpoint{Host: "127.0.0.1", Port: st.ListenPort}
	printConfig(out, hubCfg)

	spokes := map[*demoPeer]*tunnel.Tunnel{}
	for _, spoke := range []*demoPeer{homelab, phone} {
		cfg := &config.Config{Name: spoke.name, Interface: config.Interface{
			PrivateKey: spoke.key,
			Addresses:  []netip.Prefix{spoke.addr},
		}, Peers: []config.Peer{{
			PublicKey:           hub.key.PublicKey(),
			Endpoint:            hubEndpoint,
			AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")},
			PersistentKeepalive: 25,
		}}}
		step("Starting the %s", spoke.name)
		printConfig(out, cfg)
		t, err := tunnel.Up(ctx, cfg, tunnel.WithMode(tunnel.ModeNetstack), tunnel.WithLogger(log.With("peer", spoke.name)))
		if err != nil {
			return fmt.Errorf("%s: %w", spoke.name, err)
		}
		defer t.Close()
		spokes[spoke] = t
	}

	step("Handshake: the phone pings the hub (10.0.0.1)")
	for seq := uint16(1); seq <= 3; seq++ {
		rtt, err := pingUntil(ctx, spokes[phone], hub.addr.Addr(), seq)
		if err != nil {
			return fmt.Errorf("phone → hub ping: %w", err)
		}
		fmt.Fprintf(out, "    reply from %s: icmp_seq=%d time=%s\n", hub.addr.Addr(), seq, fmtRTT(rtt))
	}

	step("The home lab serves HTTP on 10.0.0.2:8096 (inside its tunnel only)")
	ln, err := spokes[homelab].Listen("tcp", netip.AddrPortFrom(homelab.addr.Addr(), 8096).String())
	if err != nil {
		return fmt.Errorf("homelab listen: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from the home lab! You are %s.\n", r.RemoteAddr)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	step("The phone fetches http://10.0.0.2:8096/ — phone → hub → home lab, all encrypted")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:       spokes[phone].DialContext,
		DisableKeepAlives: true,
	}}
	body, err := fetch(ctx, client, "http://10.0.0.2:8096/")
	if err != nil {
		return fmt.Errorf("phone → homelab HTTP: %w", err)
	}
	fmt.Fprintf(out, "    HTTP 200: %s", body)

	step("The hub's status (as `wg show` prints it)")
	st, err = hubT.Status()
	if err != nil {
		return err
	}
	var b strings.Builder
	formatShow(&b, st, time.Now(), false, true)
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		switch line {
		case "":
		case "\n":
			fmt.Fprintln(out)
		default:
			fmt.Fprint(out, "    "+line)
		}
	}
	step("Done: everything ran in this process over loopback. Next: `wgu up -c wg0.conf` on real hosts.")
	return nil
}

// pingUntil repeats a ping until the first reply: the first packets wait
// for the handshake.
func pingUntil(ctx context.Context, t *tunnel.Tunnel, dst netip.Addr, seq uint16) (time.Duration, error) {
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		rtt, err := t.Ping(pctx, dst, seq)
		cancel()
		if err == nil {
			return rtt, nil
		}
		if ctx.Err() != nil {
			return 0, errors.Join(err, ctx.Err())
		}
	}
}

func fetch(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), nil
}

// printConfig shows a config as its wg-quick file, private key hidden.
func printConfig(out io.Writer, cfg *config.Config) {
	text, err := cfg.MarshalText()
	if err != nil {
		return
	}
	for _, line := range strings.Split(strings.TrimRight(string(text), "\n"), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && strings.EqualFold(strings.TrimSpace(k), "PrivateKey") {
			line = "PrivateKey = (hidden)"
		}
		fmt.Fprintf(out, "    | %s\n", line)
	}
}

func fmtRTT(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}
