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

// exitUsage is the exit status of a command line wgu does not understand
// (an unknown command), as wg and wg-quick exit 1 on theirs.
const exitUsage = 1

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// readyPipeKey is where the app's Metadata keeps a daemon child's
// readiness pipe (see takeReadyPipe).
const readyPipeKey = "ready-pipe"

// readyPipe is the readiness pipe of this daemon child, or nil.
func readyPipe(c *cli.Context) *os.File {
	f, _ := c.App.Metadata[readyPipeKey].(*os.File)
	return f
}

func main() {
	if filepath.Base(os.Args[0]) == wireguardGoName {
		os.Exit(wireguardGoMain(os.Args))
	}
	// Claimed first, before anything can start a child.
	ready, err := takeReadyPipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "wgu: %v\n", err)
		os.Exit(1)
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
			showCommand(),
			doctorCommand(),
			showconfCommand(),
			setCommand(),
			setconfCommand(),
			addconfCommand(),
			syncconfCommand(),
			peerCommand(),
			addpeerCommand(),
			uiHashCommand(),
			stripCommand(),
			genkeyCommand(),
			genpskCommand(),
			pubkeyCommand(),
		},
		HideHelpCommand: true,
		// Only reached when the first argument is not a command.
		Action:   runNoCommand,
		Metadata: map[string]any{readyPipeKey: ready},
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
	if err := app.Run(flagsFirst(os.Args)); err != nil {
		// ExitErrHandler has reported command errors; this is a usage error.
		fmt.Fprintf(os.Stderr, "wgu: %v\n", err)
		os.Exit(1)
	}
}

// runNoCommand handles `wgu`, `wgu help [COMMAND]` and unknown commands: help
// on stdout for the first two; for an unknown command one line saying so,
// then the usage, on stderr, and exit status exitUsage.
func runNoCommand(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) == 0 {
		return cli.ShowAppHelp(c)
	}
	if args[0] == "help" && len(args) <= 2 {
		if len(args) == 1 {
			return cli.ShowAppHelp(c)
		}
		if c.App.Command(args[1]) != nil {
			return cli.ShowCommandHelp(c, args[1])
		}
		args = args[1:]
	}
	fmt.Fprintf(os.Stderr, "wgu: unknown command %q (see the commands below, or `wgu help COMMAND`)\n\n", args[0])
	cli.HelpPrinter(os.Stderr, cli.AppHelpTemplate, c.App)
	return exitSilently(exitUsage)
}
