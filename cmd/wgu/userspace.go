package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/hostcfg"
	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// wireguard-go's environment: descriptors handed in by a parent (its own
// daemonizing parent, or a supervisor) and the foreground switch.
const (
	envTUNFD      = "WG_TUN_FD"
	envUAPIFD     = "WG_UAPI_FD"
	envForeground = "WG_PROCESS_FOREGROUND"
)

// wireguardGoName is the argv[0] base name under which wgu behaves as
// wireguard-go (a symlink wireguard-go -> wgu).
const wireguardGoName = "wireguard-go"

func userspaceCommand() *cli.Command {
	return &cli.Command{
		Name:      "userspace",
		Usage:     "be wireguard-go: create TUN IFACE and its UAPI socket, nothing else (wg-quick's userspace fallback)",
		ArgsUsage: "IFACE",
		Description: "wireguard-go's command-line contract, which wg-quick relies on when the kernel has no\n" +
			"WireGuard: create TUN IFACE (or use the descriptor in WG_TUN_FD) and listen on\n" +
			"/var/run/wireguard/IFACE.sock (or on WG_UAPI_FD), then detach; the command returns once\n" +
			"both exist. No key, peers, addresses, MTU, routes or link state: configure the device with\n" +
			"`wg setconf IFACE FILE` and the link with ip(8). The daemon exits when the link is deleted\n" +
			"(`ip link del IFACE`) or its socket file is removed. WG_PROCESS_FOREGROUND=1 is -f;\n" +
			"LOG_LEVEL=error (default), verbose or silent. A symlink named wireguard-go pointing to wgu\n" +
			"behaves the same: `wireguard-go [-f/--foreground] INTERFACE-NAME`, `wireguard-go --version`.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "foreground", Aliases: []string{"f"}, Usage: "stay attached; SIGINT/SIGTERM delete the interface"},
			&cli.BoolFlag{Name: "version", Usage: "print the version as wireguard-go does"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				printUserspaceVersion(os.Stdout)
				return nil
			}
			if c.NArg() != 1 {
				return fmt.Errorf("expected one interface name, as in `wgu userspace wg0`")
			}
			return runUserspace(c.Context, c.Args().First(), c.Bool("foreground"), readyPipe(c))
		},
	}
}

// wireguardGoMain is main for wgu invoked as wireguard-go: its argument
// parsing and output, and its exit status (0 once the interface is up).
func wireguardGoMain(args []string) int {
	if len(args) == 2 && args[1] == "--version" {
		printUserspaceVersion(os.Stdout)
		return 0
	}
	name, foreground, ok := parseWireguardGoArgs(args[1:])
	if !ok {
		fmt.Printf("Usage: %s [-f/--foreground] INTERFACE-NAME\n", args[0])
		return 1
	}
	ready, err := takeReadyPipe()
	if err == nil {
		err = runUserspace(context.Background(), name, foreground, ready)
	}
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "wgu: %v\n", err)
	return 1
}

// parseWireguardGoArgs reads wireguard-go's arguments (argv[0] excluded):
// `[-f|--foreground] INTERFACE-NAME`.
func parseWireguardGoArgs(args []string) (name string, foreground, ok bool) {
	switch {
	case len(args) == 2 && (args[0] == "-f" || args[0] == "--foreground"):
		return args[1], true, true
	case len(args) == 1 && args[0] != "-f" && args[0] != "--foreground":
		return args[0], false, true
	}
	return "", false, false
}

// printUserspaceVersion prints wgu's version in wireguard-go's layout.
func printUserspaceVersion(w io.Writer) {
	fmt.Fprintf(w, "wgu v%s\n\nUserspace WireGuard daemon for %s-%s, with wireguard-go's command line.\nInformation available at https://github.com/wgu-project/wgu.\n",
		strings.TrimPrefix(version, "v"), runtime.GOOS, runtime.GOARCH)
}

// runUserspace is wireguard-go's main: open the TUN and the UAPI socket,
// then either hand both to a detached child and return once it runs, or
// serve them here.
// ready is the readiness pipe of a daemon child, else nil.
func runUserspace(ctx context.Context, name string, foreground bool, ready *os.File) error {
	foreground = foreground || os.Getenv(envForeground) == "1"

	var tunFile *os.File
	tunFD, err := inheritedFD(envTUNFD)
	if err != nil {
		return err
	}
	if tunFD >= 0 {
		if tunFile, name, err = hostcfg.TUNFileFromFD(tunFD); err != nil {
			return fmt.Errorf("%s: %w", envTUNFD, err)
		}
	} else if !foreground {
		// The parent makes the interface, so it exists when we return;
		// in the foreground, Up makes it.
		if tunFile, name, err = hostcfg.OpenTUN(name); err != nil {
			return err
		}
	}
	closeTUN := func() {
		if tunFile != nil {
			tunFile.Close()
		}
	}

	var uapiFile *os.File
	uapiFD, err := inheritedFD(envUAPIFD)
	if err != nil {
		closeTUN()
		return err
	}
	ownSocket := uapiFD < 0
	if ownSocket {
		if uapiFile, err = uapi.Open(rundir.SystemDir, name); err != nil {
			closeTUN()
			return err
		}
	} else {
		uapiFile = os.NewFile(uintptr(uapiFD), envUAPIFD)
	}

	if !foreground {
		err := daemonizeUserspace(tunFile, uapiFile)
		if err != nil && ownSocket {
			// The child failed before it served the socket we made.
			os.Remove(rundir.SocketPath(rundir.SystemDir, name))
		}
		return err
	}
	return serveUserspace(ctx, name, tunFile, uapiFile, ready)
}

// inheritedFD returns the descriptor named by environment variable env,
// or -1 when it is unset.
func inheritedFD(env string) (int, error) {
	s := os.Getenv(env)
	if s == "" {
		return -1, nil
	}
	fd, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return -1, fmt.Errorf("%s=%q: not a descriptor number", env, s)
	}
	return int(fd), nil
}

// daemonizeUserspace re-runs this command line detached, with the TUN and
// the UAPI socket as descriptors 3 and 4, as wireguard-go does, and returns
// once the child serves them.
func daemonizeUserspace(tunFile, uapiFile *os.File) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding own executable: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Args = os.Args // keeps argv[0], so a wireguard-go symlink stays wireguard-go
	cmd.Env = append(os.Environ(), envTUNFD+"=3", envUAPIFD+"=4", envForeground+"=1")
	cmd.ExtraFiles = []*os.File{tunFile, uapiFile}
	return runDetached(cmd)
}

// serveUserspace runs the device on the TUN (nil: create it by name) and
// the UAPI socket until the link is deleted, the socket file removed, or a
// signal arrives.
func serveUserspace(ctx context.Context, name string, tunFile, uapiFile, ready *os.File) error {
	// wireguard-go's default is errors only.
	log := newLoggerFrom(os.Stderr, slog.LevelError)
	ln, err := uapi.ListenerFromFile(uapiFile)
	if err != nil {
		if tunFile != nil {
			tunFile.Close()
		}
		return err
	}
	opts := []tunnel.UpOption{
		tunnel.WithMode(tunnel.ModeTUN),
		tunnel.WithoutHostConfig(),
		tunnel.WithUAPIListener(ln),
		tunnel.WithLogger(log),
	}
	if tunFile != nil {
		opts = append(opts, tunnel.WithTUNFile(tunFile))
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	t, err := tunnel.Up(ctx, &config.Config{Name: name}, opts...)
	if err != nil {
		return err
	}
	log.Debug("wgu started as a wireguard-go daemon", "version", version, "pid", os.Getpid())
	if ready != nil {
		if err := detachUserspace(ready); err != nil {
			t.Close()
			return err
		}
	}
	select {
	case <-ctx.Done():
		log.Info("signal received, deleting the interface")
	case <-t.Done():
		log.Debug("interface gone, exiting")
	}
	if err := t.Close(); err != nil && !errors.Is(err, tunnel.ErrClosed) {
		return err
	}
	return nil
}

// detachUserspace lets go of the terminal of the command that started the
// daemon, as wireguard-go does: its output goes on only when LOG_LEVEL asks
// for some, else to /dev/null; then the parent may return.
func detachUserspace(ready *os.File) error {
	if level := os.Getenv("LOG_LEVEL"); level == "" || level == "silent" {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("opening %s: %w", os.DevNull, err)
		}
		defer devnull.Close()
		if err := redirectOutput(devnull); err != nil {
			return err
		}
	}
	return reportReady(ready)
}
