package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
)

func upCommand() *cli.Command {
	return &cli.Command{
		Name:      "up",
		Usage:     "bring up the interface of a wg-quick config",
		ArgsUsage: "NAME | FILE",
		Description: "NAME means /etc/wireguard/NAME.conf. wgu returns once the interface is up and its\n" +
			"UAPI socket listens; the tunnel then lives in a background process until `wgu down`.\n" +
			"Without root or /dev/net/tun (--mode auto falls back to it, or --mode netstack) the\n" +
			"tunnel runs on wgu's userspace stack; reach it with --forward/--expose or the config's\n" +
			"[Socks5], [http], [TCPClientTunnel], [TCPServerTunnel] and [UDPProxyTunnel] sections.",
		Flags: []cli.Flag{
			configFlag,
			&cli.BoolFlag{Name: "foreground", Aliases: []string{"f"}, Usage: "stay attached; SIGINT/SIGTERM take the interface down"},
			&cli.StringFlag{Name: "mode", Value: string(tunnel.ModeAuto), Usage: "auto, tun or netstack"},
			&cli.StringSliceFlag{Name: "forward", Usage: "netstack: `LISTEN=TARGET` relays TCP from a host address (default 127.0.0.1) to TARGET in the tunnel, e.g. 8096=10.0.0.2:8096"},
			&cli.StringSliceFlag{Name: "expose", Usage: "netstack: `PORT=TARGET` relays TCP from PORT on the tunnel address to TARGET on this host, e.g. 8096=127.0.0.1:8096"},
			&cli.StringFlag{Name: "forwarding", Value: "auto", Usage: "netstack: route between peers (rootless hub): on, off, or auto (on with more than one peer)"},
			&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus /metrics and /healthz on `ADDR` (a bare :PORT means loopback)"},
			&cli.StringFlag{Name: "ui", Usage: "serve the peer management page on `ADDR` (a bare :PORT means loopback); its password is `# UIPasswordHash = <bcrypt>` in [Interface] (see `wgu ui-hash`), or a random one printed now"},
			runDirFlag,
		},
		Action: runUp,
	}
}

// upRequest is everything `wgu up` was asked; the daemon child gets it back
// as flags.
type upRequest struct {
	path       string
	mode       tunnel.Mode
	dir        string
	forwards   []string
	exposes    []string
	forwarding string
	metrics    string
	ui         string
	// ready is the readiness pipe when this process is the daemon child
	// of a `wgu up`; nil otherwise.
	ready *os.File
}

func runUp(c *cli.Context) error {
	target, err := resolveTarget(c)
	if err != nil {
		return err
	}
	req := upRequest{
		path:       target.path,
		dir:        runDir(c),
		forwards:   c.StringSlice("forward"),
		exposes:    c.StringSlice("expose"),
		forwarding: c.String("forwarding"),
		metrics:    c.String("metrics"),
		ui:         c.String("ui"),
		ready:      readyPipe(c),
	}
	if req.mode, err = tunnel.ParseMode(c.String("mode")); err != nil {
		return err
	}
	if req.ready == nil {
		warnWorldAccessible(target.path)
	}
	// Everything is checked before the daemon starts, so a bad config or
	// flag fails here with nothing to clean up.
	cfg, opts, err := req.load(target.name)
	if err != nil {
		return err
	}
	if f := cfg.Interface.PrivateKeyFile; f != "" && req.ready == nil {
		warnWorldAccessible(f)
	}
	if req.mode != tunnel.ModeNetstack {
		if _, err := net.InterfaceByName(cfg.Name); err == nil {
			return fmt.Errorf("`%s' already exists", cfg.Name)
		}
	}
	if req.ui != "" && req.ready == nil {
		if err := preparePagePassword(req.path, req.ui); err != nil {
			return err
		}
	}
	if !c.Bool("foreground") && req.ready == nil {
		return startDaemon(req)
	}
	return runForeground(c.Context, cfg, req, opts)
}

// load reads the config, adds the flags' services and builds Up's options.
func (r upRequest) load(name string) (*config.Config, []tunnel.UpOption, error) {
	cfg, err := config.LoadConfig(r.path)
	if err != nil {
		return nil, nil, err
	}
	cfg.Name = name
	for _, f := range r.forwards {
		s, err := config.ForwardSection(f)
		if err != nil {
			return nil, nil, err
		}
		cfg.Services = append(cfg.Services, s)
	}
	for _, e := range r.exposes {
		s, err := config.ExposeSection(e)
		if err != nil {
			return nil, nil, err
		}
		cfg.Services = append(cfg.Services, s)
	}
	if len(cfg.Services) > 0 && r.mode == tunnel.ModeTUN {
		return nil, nil, fmt.Errorf("%s: [%s]: services need netstack mode (use --mode netstack or auto; in TUN mode the host's sockets reach the tunnel directly)", r.path, cfg.Services[0].Name)
	}
	refresh, err := endpointRefreshFromEnv()
	if err != nil {
		return nil, nil, err
	}
	opts := []tunnel.UpOption{
		tunnel.WithMode(r.mode),
		tunnel.WithUAPISocket(r.dir),
		tunnel.WithHooks(os.Stderr),
		tunnel.WithConfigPath(r.path),
		// A reload (SIGHUP, `wgu reload`) re-reads the file with the same flags.
		tunnel.WithConfigLoader(func() (*config.Config, error) {
			cfg, _, err := r.load(name)
			return cfg, err
		}),
		refresh,
	}
	switch r.forwarding {
	case "auto":
	case "on":
		opts = append(opts, tunnel.WithForwarding(true))
	case "off":
		opts = append(opts, tunnel.WithForwarding(false))
	default:
		return nil, nil, fmt.Errorf("--forwarding %q: expected on, off or auto", r.forwarding)
	}
	return cfg, opts, nil
}

// args are the flags that make a child `wgu up` do what r asks.
func (r upRequest) args() []string {
	a := []string{"up", "--foreground", "--mode", string(r.mode), "--run-dir", r.dir, "--forwarding", r.forwarding}
	for _, f := range r.forwards {
		a = append(a, "--forward", f)
	}
	for _, e := range r.exposes {
		a = append(a, "--expose", e)
	}
	if r.metrics != "" {
		a = append(a, "--metrics", r.metrics)
	}
	if r.ui != "" {
		a = append(a, "--ui", r.ui)
	}
	return append(a, "-c", r.path)
}

// Environment variables that shorten the re-resolving of host-name
// endpoints (for tests): how often peers are checked, and how old a
// handshake must be before the name is looked up again. Both take Go
// durations, e.g. 1s.
const (
	ddnsIntervalEnv = "WGU_DDNS_INTERVAL"
	ddnsStaleEnv    = "WGU_DDNS_STALE"
)

func endpointRefreshFromEnv() (tunnel.UpOption, error) {
	var d [2]time.Duration
	for i, env := range []string{ddnsIntervalEnv, ddnsStaleEnv} {
		v := os.Getenv(env)
		if v == "" {
			continue
		}
		var err error
		if d[i], err = time.ParseDuration(v); err != nil || d[i] <= 0 {
			return nil, fmt.Errorf("%s=%q: expected a positive duration such as 10s", env, v)
		}
	}
	return tunnel.WithEndpointRefresh(d[0], d[1]), nil
}

// runForeground brings the tunnel up in this process and keeps it until a
// signal, or until its device goes away. SIGHUP reloads the config file.
func runForeground(ctx context.Context, cfg *config.Config, req upRequest, opts []tunnel.UpOption) error {
	log := newLogger(os.Stderr)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var logf *os.File
	if req.ready != nil {
		var err error
		if logf, err = openDaemonLog(req.dir, cfg.Name); err != nil {
			return err
		}
		defer logf.Close()
	}
	// Until ready, errors go to the terminal of `wgu up`: a failed up
	// leaves no (empty) log behind.
	ready := false
	defer func() {
		if logf != nil && !ready {
			discardEmptyLog(req.dir, cfg.Name, logf)
		}
	}()
	t, err := tunnel.Up(ctx, cfg, append(opts, tunnel.WithLogger(log))...)
	if err != nil {
		return err
	}
	if req.metrics != "" {
		stopMetrics, err := serveMetrics(ctx, req.metrics, t, log)
		if err != nil {
			t.Close()
			return err
		}
		defer stopMetrics()
	}
	if req.ui != "" {
		stopPage, err := servePage(ctx, req, cfg.Name, t, log)
		if err != nil {
			t.Close()
			return err
		}
		defer stopPage()
	}
	if req.ready != nil {
		err := signalReady(req.ready, logf)
		if err != nil {
			t.Close()
			return err
		}
		ready = true
		logf.Close()
	}
	notifySystemd(log, "READY=1\nSTATUS=interface "+cfg.Name+" up ("+string(t.Mode())+" mode)")
	defer notifySystemd(log, "STOPPING=1")
wait:
	for {
		select {
		case <-hup:
			log.Info("SIGHUP received, reloading the configuration")
			notifySystemd(log, "RELOADING=1")
			if err := t.ReloadConfig(ctx); err != nil {
				log.Error("reload failed; the tunnel keeps running", "err", err)
			}
			notifySystemd(log, "READY=1")
		case <-ctx.Done():
			log.Info("signal received, taking the interface down")
			break wait
		case <-t.Done():
			log.Info("device closed, exiting")
			break wait
		}
	}
	// The signal context is done; hooks still need a live one.
	if err := t.Down(context.Background()); err != nil && !errors.Is(err, tunnel.ErrClosed) {
		return err
	}
	return nil
}
