package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/tunnel"
)

func upCommand() *cli.Command {
	return &cli.Command{
		Name:      "up",
		Usage:     "bring up the interface of a wg-quick config",
		ArgsUsage: "NAME | FILE",
		Description: "NAME means /etc/wireguard/NAME.conf. wgu returns once the interface is up and its\n" +
			"UAPI socket listens; the tunnel then lives in a background process until `wgu down`.",
		Flags: []cli.Flag{
			configFlag,
			&cli.BoolFlag{Name: "foreground", Aliases: []string{"f"}, Usage: "stay attached; SIGINT/SIGTERM take the interface down"},
			&cli.StringFlag{Name: "mode", Value: string(tunnel.ModeAuto), Usage: "auto, tun or netstack"},
			runDirFlag,
		},
		Action: runUp,
	}
}

func runUp(c *cli.Context) error {
	target, err := resolveTarget(c)
	if err != nil {
		return err
	}
	mode, err := tunnel.ParseMode(c.String("mode"))
	if err != nil {
		return err
	}
	if !isDaemonChild() {
		warnWorldAccessible(target.path)
	}
	cfg, err := tunnel.LoadConfig(target.path)
	if err != nil {
		return err
	}
	if mode != tunnel.ModeNetstack {
		if _, err := net.InterfaceByName(cfg.Name); err == nil {
			return fmt.Errorf("`%s' already exists", cfg.Name)
		}
	}
	dir := runDir(c)
	if !c.Bool("foreground") && !isDaemonChild() {
		return startDaemon(target.path, mode, dir)
	}
	return runForeground(c.Context, cfg, target.path, mode, dir)
}

// runForeground brings the tunnel up in this process and keeps it until a
// signal, or until its device goes away.
func runForeground(ctx context.Context, cfg *tunnel.Config, path string, mode tunnel.Mode, dir string) error {
	log := newLogger(os.Stderr)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	t, err := tunnel.Up(ctx, cfg,
		tunnel.WithLogger(log),
		tunnel.WithMode(mode),
		tunnel.WithUAPISocket(dir),
		tunnel.WithHooks(os.Stderr),
		tunnel.WithConfigPath(path),
	)
	if err != nil {
		return err
	}
	if isDaemonChild() {
		if err := signalReady(dir, cfg.Name); err != nil {
			t.Close()
			return err
		}
	}
	select {
	case <-ctx.Done():
		log.Info("signal received, taking the interface down")
	case <-t.Done():
		log.Info("device closed, exiting")
	}
	// The signal context is done; hooks still need a live one.
	if err := t.Down(context.Background()); err != nil && !errors.Is(err, tunnel.ErrClosed) {
		return err
	}
	return nil
}
