package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/hooks"
	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
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
	st, err := daemon.ReadState(dir, name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// A forged or damaged state is not acted on at all.
		return err
	}
	var proc *os.Process
	if st != nil {
		if proc, err = st.OpenDaemon(c.Context, dir, name); err != nil {
			log.Warn("not signalling the process the state names: it is not the daemon", "err", err)
		}
		// A config path taken from the state runs hooks only if the file is
		// one that only root or this user can change.
		if st.ConfigPath != "" {
			if err := rundir.CheckFile(st.ConfigPath); err != nil {
				log.Warn("not running PreDown/PostDown from the config the state names", "err", err)
				path = ""
			} else {
				path = st.ConfigPath
			}
		}
	}
	hooks := hooks.Runner{Out: os.Stderr, SkipHostNetwork: st != nil && st.Mode == string(tunnel.ModeNetstack)}
	var cfg *config.Config
	if path != "" {
		cfg, err = config.LoadConfig(path)
		if err != nil {
			log.Warn("cannot read the config, skipping hooks", "err", err)
		}
	}
	// PreDown and PostDown run here, as wg-quick runs them, so that their
	// output and failure reach this terminal: a live daemon is told to
	// leave them to us (one that does not know how runs them itself). A
	// failing hook fails `down`, but the teardown still finishes.
	ourHooks := cfg != nil && (proc == nil || handOverHooks(c.Context, dir, name))
	var errs []error
	if ourHooks {
		errs = append(errs, hooks.Run(c.Context, "PreDown", name, cfg.Interface.PreDown))
	}
	if proc != nil {
		// The daemon saves the config (SaveConfig) and undoes its changes.
		errs = append(errs, daemon.StopDaemon(proc, stopTimeout))
	}
	// Whatever a dead daemon left behind.
	errs = append(errs, daemon.Cleanup(c.Context, log, dir, name))
	if ourHooks {
		errs = append(errs, hooks.Run(c.Context, "PostDown", name, cfg.Interface.PostDown))
	}
	return errors.Join(errs...)
}

// handOverHooks tells the daemon of interface name that `wgu down` runs
// PreDown and PostDown itself; false if the daemon did not agree.
func handOverHooks(ctx context.Context, dir, name string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := daemon.Dial(ctx, dir, name)
	if err != nil {
		return false
	}
	defer cl.Close()
	_, err = cl.Do(daemon.Request{Op: "external-hooks"})
	return err == nil
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
