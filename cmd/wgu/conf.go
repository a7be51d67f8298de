package main

import (
	"fmt"
	"net"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// The *conf commands take a config in wg(8)'s format (wg showconf, wgu
// strip) and apply it over UAPI, so they work on any wireguard-go
// interface.

func setconfCommand() *cli.Command {
	return confCommand("setconf", "replace an interface's configuration (all peers included) with a wg config file")
}

func addconfCommand() *cli.Command {
	return confCommand("addconf", "add a wg config file's settings and peers to an interface's configuration")
}

func syncconfCommand() *cli.Command {
	return confCommand("syncconf", "make an interface's configuration match a wg config file, without disturbing unchanged peers' sessions")
}

func confCommand(name, usage string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "<interface> <configuration filename>",
		Description: "The file is in wg(8)'s format: only PrivateKey, ListenPort and FwMark in [Interface],\n" +
			"and [Peer] sections. For a wg-quick file, use `wgu " + name + " IFACE <(wgu strip FILE)`.",
		Action: func(c *cli.Context) error { return runConf(c, name) },
	}
}

func runConf(c *cli.Context, op string) error {
	if c.NArg() != 2 {
		return fmt.Errorf("Usage: wgu %s <interface> <configuration filename>", op)
	}
	iface, path := c.Args().Get(0), c.Args().Get(1)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	w, err := config.ParseWGConfig(path, f)
	if err != nil {
		return fmt.Errorf("%w\nConfiguration parsing error", err)
	}
	sock, err := rundir.FindSocket("", iface)
	if err != nil {
		return fmt.Errorf("Unable to modify interface: %w", err)
	}
	var body string
	switch op {
	case "setconf":
		body, err = w.SetconfUAPI(c.Context, net.DefaultResolver)
	case "addconf":
		body, err = w.AddconfUAPI(c.Context, net.DefaultResolver)
	case "syncconf":
		var live []config.Peer
		if len(w.Peers) > 0 {
			st, err := uapi.Get(c.Context, sock)
			if err != nil {
				return fmt.Errorf("Unable to access interface: %w", err)
			}
			for _, p := range st.Peers {
				live = append(live, p.Peer)
			}
		}
		body, err = w.SyncconfUAPI(c.Context, net.DefaultResolver, live)
	}
	if err != nil {
		return err
	}
	if err := uapi.Set(c.Context, sock, body); err != nil {
		return fmt.Errorf("Unable to modify interface: %w", err)
	}
	return nil
}
