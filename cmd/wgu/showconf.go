package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func showconfCommand() *cli.Command {
	return &cli.Command{
		Name:      "showconf",
		Usage:     "print an interface's current configuration as `wg showconf` does",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{runDirFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("usage: wgu showconf NAME")
			}
			st, err := interfaceStatus(c.Context, c.String("run-dir"), c.Args().First())
			if err != nil {
				return fmt.Errorf("Unable to access interface: %w", err)
			}
			formatShowconf(os.Stdout, st)
			return nil
		},
	}
}
