package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel"
)

// stopTimeout is how long down waits for a daemon to finish its PreDown,
// SaveConfig and PostDown before killing it.
const stopTimeout = 30 * time.Second

func downCommand() *cli.Command {
	return &cli.Command{
		Name:      "down",
		Usage:     "take an interface down and undo everything up did",
		ArgsUsage: "NAME | FILE",
		Flags:     []cli.Flag{configFlag, runDirFlag},
		Action:    runDown,
	}
}

func runDown(c *cli.Context) error {
	name, path, err := downTarget(c)
	if err != nil {
		return err
	}
	dir, err := findRunning(c.String("run-dir"), name)
	if err != nil {
		return err
	}
	log := newLogger(os.Stderr)
	st, err := tunnel.ReadState(dir, name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// A forged or damaged state is not acted on at all.
		return err
	}
	if st != nil {
		daemon, err := st.OpenDaemon(c.Context, dir, name)
		if err != nil {
			log.Warn("not signalling the process the state names: it is not the daemon", "err", err)
		}
		if daemon != nil {
			// The daemon runs PreDown, SaveConfig and PostDown itself.
			if err := tunnel.StopDaemon(daemon, stopTimeout); err != nil {
				return err
			}
			return tunnel.Cleanup(c.Context, log, dir, name)
		}
	}
	// The daemon is gone: undo what it left, with the hooks around it. A
	// config path taken from the state runs hooks only if the file is one
	// that only root or this user can change.
	if st != nil && st.ConfigPath != "" {
		if err := rundir.CheckFile(st.ConfigPath); err != nil {
			log.Warn("not running PreDown/PostDown from the config the state names", "err", err)
			path = ""
		} else {
			path = st.ConfigPath
		}
	}
	var cfg *tunnel.Config
	if path != "" {
		cfg, err = tunnel.LoadConfig(path)
		if err != nil {
			log.Warn("cannot read the config, skipping hooks", "err", err)
		}
	}
	var errs []error
	if cfg != nil {
		errs = append(errs, runHookStage(c.Context, "PreDown", name, cfg.Interface.PreDown))
	}
	errs = append(errs, tunnel.Cleanup(c.Context, log, dir, name))
	if cfg != nil {
		errs = append(errs, runHookStage(c.Context, "PostDown", name, cfg.Interface.PostDown))
	}
	return errors.Join(errs...)
}

// downTarget accepts what up accepts, and also the bare name of a running
// interface whose config is not in /etc/wireguard.
func downTarget(c *cli.Context) (name, path string, err error) {
	if t, err := resolveTarget(c); err == nil {
		return t.name, t.path, nil
	} else if c.String("config") != "" || c.NArg() != 1 || !validName(c.Args().First()) {
		return "", "", err
	}
	return c.Args().First(), "", nil
}

// runHookStage runs hooks for an interface whose daemon is gone.
func runHookStage(ctx context.Context, stage, name string, hooks []string) error {
	return tunnel.RunHooks(ctx, stage, name, hooks, os.Stderr)
}
