package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/tunnel/config"
)

func genkeyCommand() *cli.Command {
	return &cli.Command{
		Name:  "genkey",
		Usage: "print a new private key (base64), as wg genkey",
		Action: func(c *cli.Context) error {
			return printNewKey(config.GeneratePrivateKey)
		},
	}
}

func genpskCommand() *cli.Command {
	return &cli.Command{
		Name:  "genpsk",
		Usage: "print a new preshared key (base64), as wg genpsk",
		Action: func(c *cli.Context) error {
			return printNewKey(config.GeneratePresharedKey)
		},
	}
}

func printNewKey(generate func() (config.SecretKey, error)) error {
	warnWorldAccessibleStdout()
	k, err := generate()
	if err != nil {
		return err
	}
	_, err = fmt.Println(k.Reveal().String())
	return err
}

// warnWorldAccessibleStdout says what wg says when a secret is about to be
// written to a regular file that others may read.
func warnWorldAccessibleStdout() {
	fi, err := os.Stdout.Stat()
	if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o007 != 0 {
		fmt.Fprint(os.Stderr, "Warning: writing to world accessible file.\nConsider setting the umask to 077 and trying again.\n")
	}
}

func pubkeyCommand() *cli.Command {
	return &cli.Command{
		Name:  "pubkey",
		Usage: "read a private key on stdin, print its public key, as wg pubkey",
		Action: func(c *cli.Context) error {
			pub, err := readPublicKey(os.Stdin)
			if err != nil {
				return cli.Exit("wgu: "+err.Error(), 1)
			}
			_, err = fmt.Println(pub.String())
			return err
		},
	}
}

// readPublicKey reads a base64 private key followed only by whitespace, as wg
// pubkey accepts it, and derives its public key.
func readPublicKey(r io.Reader) (config.Key, error) {
	b, err := io.ReadAll(bufio.NewReader(io.LimitReader(r, 4096)))
	if err != nil {
		return config.Key{}, fmt.Errorf("reading private key: %w", err)
	}
	priv, err := config.ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return config.Key{}, errors.New("Key is not the correct length or format")
	}
	return priv.PublicKey(), nil
}
