package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/tunnel/config"
)

func stripCommand() *cli.Command {
	return &cli.Command{
		Name:      "strip",
		Usage:     "print the config without wg-quick's and wgu's own keys, for wg setconf/syncconf",
		ArgsUsage: "NAME | FILE",
		Flags:     []cli.Flag{configFlag, runDirFlag},
		Action: func(c *cli.Context) error {
			path, err := stripSource(c)
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			out, err := config.StripConfig(path, f)
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(out)
			return err
		},
	}
}

// stripSource finds the config: FILE, /etc/wireguard/NAME.conf, or the file
// a running interface NAME was brought up from.
func stripSource(c *cli.Context) (string, error) {
	t, err := resolveTarget(c)
	if err == nil {
		return t.path, nil
	}
	if c.String("config") == "" && c.NArg() == 1 && validName(c.Args().First()) {
		name := c.Args().First()
		if dir, ferr := findRunning(c.String("run-dir"), name); ferr == nil {
			if st, serr := daemon.ReadState(dir, name); serr == nil && st.ConfigPath != "" {
				return st.ConfigPath, nil
			}
		}
	}
	return "", err
}
