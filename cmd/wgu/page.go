package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/wgu-project/wgu/internal/peerbook"
	"github.com/wgu-project/wgu/internal/ui"
	"github.com/wgu-project/wgu/tunnel"
)

// pagePasswordHashEnv carries the bcrypt hash of a random page password
// from `wgu up` (which prints the password) to its daemon child.
const pagePasswordHashEnv = "WGU_UI_PASSWORD_HASH"

// pagePasswordKey is the [Interface] comment key with the page's bcrypt
// hash: a comment, so wg-quick reads the file unchanged.
const pagePasswordKey = "UIPasswordHash"

// preparePagePassword makes a random password, when the config has no hash,
// and prints it once on the terminal that ran `wgu up` (never into the log).
func preparePagePassword(path, addr string) error {
	if !ui.IsLoopback(addr) {
		fmt.Fprintf(os.Stderr, "Warning: the management page on %s is reachable from the network; put TLS in front of it (its cookies are Secure only over TLS)\n", ui.LoopbackDefault(addr))
	}
	book := &peerbook.PeerBook{Path: path}
	if book.InterfaceComment(pagePasswordKey) != "" || os.Getenv(pagePasswordHashEnv) != "" {
		return nil
	}
	pw := rand.Text() // 26 base32 characters, 130 bits
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("management page password: %w", err)
	}
	os.Setenv(pagePasswordHashEnv, string(hash)) // for the daemon child
	fmt.Fprintf(os.Stderr, "Management page: http://%s/  password: %s\n(random, for this run only; to keep one, put `# %s = <output of wgu ui-hash>` in [Interface])\n",
		ui.LoopbackDefault(addr), pw, pagePasswordKey)
	return nil
}

// servePage starts the management page in the daemon.
func servePage(ctx context.Context, req upRequest, name string, t *tunnel.Tunnel, log *slog.Logger) (func(), error) {
	book := &peerbook.PeerBook{Path: req.path, Apply: t.ReloadConfig}
	hash := book.InterfaceComment(pagePasswordKey)
	if hash == "" {
		hash = os.Getenv(pagePasswordHashEnv)
	}
	if hash == "" {
		return nil, errors.New("--ui: no password: put `# UIPasswordHash = <bcrypt hash>` in [Interface]")
	}
	srv, err := ui.New(ui.Config{Interface: name, Book: book, Status: t.Status, PasswordHash: []byte(hash), Log: log})
	if err != nil {
		return nil, fmt.Errorf("--ui: %s: %w", req.path, err)
	}
	stop, addr, err := srv.Serve(ctx, req.ui)
	if err != nil {
		return nil, err
	}
	log.Info("management page listening", "addr", addr)
	return stop, nil
}

func uiHashCommand() *cli.Command {
	return &cli.Command{
		Name:  "ui-hash",
		Usage: "read a password on stdin and print its bcrypt hash, for `# UIPasswordHash = …` in [Interface]",
		Action: func(c *cli.Context) error {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("reading the password from stdin: %w", err)
			}
			pw := strings.TrimRight(line, "\r\n")
			if len(pw) < 8 {
				return errors.New("the password needs at least 8 characters")
			}
			hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
			if err != nil {
				return err
			}
			fmt.Println(string(hash))
			return nil
		},
	}
}
