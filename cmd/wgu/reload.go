package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/daemon"
)

// reloadTimeout bounds a reload: resolving endpoints and changing routes.
const reloadTimeout = 90 * time.Second

func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:      "reload",
		Usage:     "re-read a running interface's config file and apply what changed",
		ArgsUsage: "NAME | FILE",
		Description: "The daemon re-reads the file it was brought up from (with the same --forward and\n" +
			"--expose flags) and applies only the differences: peers are added, removed or\n" +
			"updated in place (their sessions and connections go on), and in TUN mode addresses\n" +
			"and routes follow. Sending the daemon SIGHUP does the same; reload also waits for\n" +
			"the outcome and reports an error, and the new config's warnings. Changes that need a\n" +
			"restart (MTU, DNS, Table, hooks, services, netstack addresses) are refused and the\n" +
			"tunnel keeps running unchanged.",
		Flags:  []cli.Flag{configFlag, runDirFlag},
		Action: runReload,
	}
}

func runReload(c *cli.Context) error {
	name, _, err := downTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, reloadTimeout)
	defer cancel()
	cl, err := daemon.Dial(ctx, c.String("run-dir"), name)
	if err != nil {
		return err
	}
	defer cl.Close()
	rep, err := cl.Do(daemon.Request{Op: "reload"})
	if rep != nil {
		for _, w := range rep.Warnings {
			fmt.Fprintf(os.Stderr, "Warning: %s\n", w)
		}
	}
	return err // the daemon says which interface and what failed
}
