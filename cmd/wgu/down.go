package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

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
	if err == nil && st.ProcessAlive() {
		// The daemon runs PreDown, SaveConfig and PostDown itself.
		if err := stopProcess(st.PID); err != nil {
			return err
		}
		return tunnel.Cleanup(c.Context, log, dir, name)
	}
	// The daemon is gone: undo what it left, with the hooks around it.
	if st != nil && st.ConfigPath != "" {
		path = st.ConfigPath
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

// stopProcess sends SIGTERM and waits for the process to exit, killing it
// if it takes longer than stopTimeout.
func stopProcess(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("stopping process %d: %w", pid, err)
	}
	deadline := time.Now().Add(stopTimeout)
	for time.Now().Before(deadline) {
		if !tunnel.ProcessAlive(pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	return fmt.Errorf("process %d did not stop within %s; killed", pid, stopTimeout)
}

// runHookStage runs hooks for an interface whose daemon is gone.
func runHookStage(ctx context.Context, stage, name string, hooks []string) error {
	return tunnel.RunHooks(ctx, stage, name, hooks, os.Stderr)
}
