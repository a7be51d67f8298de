package main

import (
	"fmt"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

func setCommand() *cli.Command {
	return &cli.Command{
		Name:  "set",
		Usage: "change an interface's configuration, as `wg set` does",
		ArgsUsage: "<interface> [listen-port <port>] [fwmark <mark>] [private-key <file path>]\n" +
			"   [peer <base64 public key> [remove] [preshared-key <file path>] [endpoint <ip>:<port>]\n" +
			"   [persistent-keepalive <interval seconds>] [allowed-ips [+|-]<ip1>/<cidr1>[,[+|-]<ip2>/<cidr2>]...] ]...",
		Description: "Talks wireguard's UAPI to /var/run/wireguard/<interface>.sock (or wgu's own run\n" +
			"directory), so it works on wgu and on any wireguard-go interface.",
		SkipFlagParsing: true,
		HideHelp:        true,
		Action:          runSet,
	}
}

func runSet(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) < 1 {
		return fmt.Errorf("Usage: wgu set <interface> [listen-port <port>] [fwmark <mark>] [private-key <file path>] [peer <base64 public key> [remove] [preshared-key <file path>] [endpoint <ip>:<port>] [persistent-keepalive <interval seconds>] [allowed-ips <ip1>/<cidr1>[,<ip2>/<cidr2>]...] ]...")
	}
	sock, err := rundir.FindSocket("", args[0])
	if err != nil {
		return fmt.Errorf("Unable to modify interface: %w", err)
	}
	body, err := config.SetArgs(c.Context, net.DefaultResolver, args[1:])
	if err != nil {
		return err
	}
	if err := uapi.Set(c.Context, sock, body); err != nil {
		return fmt.Errorf("Unable to modify interface: %w", err)
	}
	return nil
}
