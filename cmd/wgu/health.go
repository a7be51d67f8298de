package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// healthCommand is an orchestrator's probe that needs no shell, no curl and
// no open port: `wgu health wg0` as a Kubernetes exec probe or a compose
// healthcheck in a scratch image.
func healthCommand() *cli.Command {
	return &cli.Command{
		Name:      "health",
		Usage:     "exit 0 when an interface's daemon answers (a probe for containers; no shell needed)",
		ArgsUsage: "[NAME]",
		Description: "Asks the daemon of interface NAME (or of the only running one) over its control\n" +
			"socket, then reads its device over UAPI. With --handshake it also wants a peer with a\n" +
			"handshake in the last 180 seconds (what /healthz of --metrics checks): use it for\n" +
			"readiness, and plain `wgu health` for liveness. Exit status 1 says why on stderr.",
		Flags: []cli.Flag{runDirFlag,
			&cli.BoolFlag{Name: "handshake", Usage: "also require a peer with a handshake in the last 180 seconds"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "give up after `DURATION`"},
		},
		Action: runHealth,
	}
}

func runHealth(c *cli.Context) error {
	if c.NArg() > 1 {
		return fmt.Errorf("usage: wgu health [NAME]")
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	line, err := checkHealth(ctx, c.String("run-dir"), c.Args().First(), c.Bool("handshake"), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, line)
	return nil
}

// checkHealth returns a one-line summary of a healthy interface, or why it
// is not healthy.
func checkHealth(ctx context.Context, runDir, name string, handshake bool, now time.Time) (string, error) {
	if name == "" {
		names := rundir.Interfaces(runDir)
		if len(names) != 1 {
			return "", fmt.Errorf("unhealthy: %d interfaces are running (%v); name one", len(names), names)
		}
		name = names[0]
	}
	cl, err := daemon.Dial(ctx, runDir, name)
	if err != nil {
		return "", fmt.Errorf("unhealthy: %w", err)
	}
	defer cl.Close()
	info, err := controlInfo(ctx, cl)
	if err != nil {
		return "", fmt.Errorf("unhealthy: %s: the daemon does not answer: %w", name, err)
	}
	st, err := interfaceStatus(ctx, runDir, name)
	if err != nil {
		return "", fmt.Errorf("unhealthy: %s: the device does not answer: %w", name, err)
	}
	summary := fmt.Sprintf("%s: ok (%s mode, %d peers)", name, info.Mode, len(st.Peers))
	if !handshake {
		return summary, nil
	}
	age, err := freshestHandshake(st, now)
	if err != nil {
		return "", fmt.Errorf("unhealthy: %s: %w", name, err)
	}
	return fmt.Sprintf("%s, latest handshake %s ago", summary, age.Round(time.Second)), nil
}

// freshestHandshake returns the age of the newest handshake if it is fresh
// enough for a live tunnel.
func freshestHandshake(st *uapi.Status, now time.Time) (time.Duration, error) {
	best := time.Duration(-1)
	for _, p := range st.Peers {
		if p.LastHandshake.IsZero() {
			continue
		}
		if age := now.Sub(p.LastHandshake); best < 0 || age < best {
			best = age
		}
	}
	if best < 0 || best >= freshHandshake {
		return 0, errors.New("no peer has a handshake in the last 180 seconds")
	}
	return best, nil
}

// controlInfo asks for the daemon's info, giving up when ctx ends: a stuck
// daemon must fail the probe, not hang it.
func controlInfo(ctx context.Context, cl *daemon.Client) (*daemon.Reply, error) {
	type result struct {
		rep *daemon.Reply
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := cl.Do(daemon.Request{Op: "info"})
		done <- result{rep, err}
	}()
	select {
	case r := <-done:
		return r.rep, r.err
	case <-ctx.Done():
		cl.Close() // ends the Do above
		return nil, ctx.Err()
	}
}
