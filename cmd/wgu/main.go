// Command wgu is a userspace WireGuard: wg-quick's configs on a kernel TUN or,
// without root, on a gVisor netstack.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if filepath.Base(os.Args[0]) == wireguardGoName {
		os.Exit(wireguardGoMain(os.Args))
	}
	app := &cli.App{
		Name:    "wgu",
		Usage:   "userspace WireGuard: wg-quick configs on a kernel TUN or a rootless netstack",
		Version: version,
		Commands: []*cli.Command{
			demoCommand(),
			upCommand(),
			downCommand(),
			userspaceCommand(),
			reloadCommand(),
			pingCommand(),
			healthCommand(),
			showCommand(),
			showconfCommand(),
			setCommand(),
			setconfCommand(),
			addconfCommand(),
			syncconfCommand(),
			stripCommand(),
			genkeyCommand(),
			genpskCommand(),
			pubkeyCommand(),
		},
		HideHelpCommand: true,
		ExitErrHandler: func(c *cli.Context, err error) {
			if err == nil {
				return
			}
			var ec cli.ExitCoder
			if errors.As(err, &ec) {
				if msg := err.Error(); msg != "" {
					fmt.Fprintln(os.Stderr, msg)
				}
				os.Exit(ec.ExitCode())
			}
			fmt.Fprintf(os.Stderr, "wgu: %v\n", err)
			os.Exit(1)
		},
	}
	if err := app.Run(os.Args); err != nil {
		// ExitErrHandler has reported command errors; this is a usage error.
		fmt.Fprintf(os.Stderr, "wgu: %v\n", err)
		os.Exit(1)
	}
}
