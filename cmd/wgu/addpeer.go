package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/tunnel/config"
)

// addpeer is the command the hub-and-spoke tutorial shows as
// `wg addpeer wg0 <PUBLIC_KEY> --allowed-ips 10.0.0.3/32`, which wg lacks:
// the client made its own keys, the hub learns the public one.
func addpeerCommand() *cli.Command {
	return &cli.Command{
		Name:      "addpeer",
		Usage:     "add a peer by its public key to a running hub, live and in its config file",
		ArgsUsage: "IFACE PUBLIC_KEY --allowed-ips CIDR[,CIDR]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "allowed-ips", Required: true, Usage: "the peer's tunnel addresses and networks, `CIDR`[,CIDR]"},
			&cli.StringFlag{Name: "name", Usage: "a `NAME` for the peer (a `# Name =` comment in its block)"},
			runDirFlag,
		},
		Action: runAddpeer,
	}
}

func runAddpeer(c *cli.Context) error {
	args, err := argsN(c, 2, "IFACE PUBLIC_KEY --allowed-ips CIDR[,CIDR]")
	if err != nil {
		return err
	}
	pub, err := config.ParseKey(args[1])
	if err != nil {
		return fmt.Errorf("public key %q: %w", args[1], err)
	}
	allowed, err := config.ParsePrefixList(c.String("allowed-ips"))
	if err != nil {
		return fmt.Errorf("--allowed-ips: %w", err)
	}
	h, err := findHub(c, args[0])
	if err != nil {
		return err
	}
	if err := h.book.AddPublicKey(c.Context, c.String("name"), pub, allowed); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Added peer %s (%s) to %s (%s)\n", pub, joinPrefixList(allowed), h.name, h.book.Path)
	return nil
}
