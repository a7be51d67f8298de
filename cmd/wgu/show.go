package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

func showCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show interfaces as `wg show` does (its output, byte for byte)",
		ArgsUsage: "[NAME | all | interfaces] [" + strings.Join(showFields, " | ") + "]",
		Description: "With no arguments, every interface. Keys are (hidden) unless WG_HIDE_KEYS=never;\n" +
			"colour only on a terminal unless WG_COLOR_MODE=always|never. For a netstack interface\n" +
			"the pretty output also names the mode and the services it runs.",
		Flags: []cli.Flag{runDirFlag,
			&cli.BoolFlag{Name: "json", Usage: "print the interfaces as JSON (schema in README: never private or preshared keys)"}},
		Action: runShow,
	}
}

func runShow(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) > 2 {
		return fmt.Errorf("usage: wgu show [NAME | all | interfaces] [FIELD]")
	}
	// A short-lived process whose heap is all live until it prints: at
	// 10,000 peers (about 7 MB) the default GOGC collects it twice for
	// nothing, a fifth of show's CPU (22 -> 17 ms measured).
	debug.SetGCPercent(400)
	runDir := c.String("run-dir")
	// Large: `show dump` at 10,000 peers writes 1.5 MB.
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	defer out.Flush()
	if len(args) == 1 && args[0] == "interfaces" {
		if names := rundir.Interfaces(runDir); len(names) > 0 {
			fmt.Fprintln(out, strings.Join(names, " "))
		}
		return nil
	}
	if c.Bool("json") {
		return runShowJSON(c.Context, out, runDir, args)
	}
	target, field := "all", ""
	if len(args) >= 1 {
		target = args[0]
	}
	if len(args) == 2 {
		field = args[1]
		if !isShowField(field) {
			return fmt.Errorf("Invalid parameter: `%s'", field)
		}
	}
	names := []string{target}
	if target == "all" {
		names = rundir.Interfaces(runDir)
	}
	color := useColor(os.Stdout)
	hide := os.Getenv("WG_HIDE_KEYS") != "never"
	if color && field == "" {
		fmt.Fprint(out, ansiReset)
	}
	for i, name := range names {
		var st *uapi.Status
		var err error
		if field != "" {
			// Printed while the reply is read: no peer list to build.
			err = showField(c.Context, out, runDir, name, field, target == "all")
		} else {
			st, err = interfaceStatus(c.Context, runDir, name)
		}
		if err != nil {
			if target == "all" {
				fmt.Fprintf(os.Stderr, "Unable to access interface %s: %v\n", name, err)
				continue
			}
			return fmt.Errorf("Unable to access interface: %w", err)
		}
		if field != "" {
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		formatShow(out, st, time.Now(), color, hide)
		showExtras(c.Context, out, runDir, name)
	}
	return nil
}

// runShowJSON prints `wgu show --json [NAME|all]`.
func runShowJSON(ctx context.Context, out io.Writer, runDir string, args []string) error {
	names := rundir.Interfaces(runDir)
	if len(args) == 1 && args[0] != "all" {
		names = args[:1]
	} else if len(args) > 1 {
		return fmt.Errorf("usage: wgu show --json [NAME | all]")
	}
	v := jsonShow{Interfaces: []jsonInterface{}}
	for _, name := range names {
		st, err := interfaceStatus(ctx, runDir, name)
		if err != nil {
			if len(args) == 1 && args[0] != "all" {
				return fmt.Errorf("Unable to access interface: %w", err)
			}
			continue
		}
		ji := toJSONInterface(st)
		addControlInfo(ctx, &ji, runDir)
		v.Interfaces = append(v.Interfaces, ji)
	}
	return writeJSONShow(out, v)
}

// interfaceStatus reads a running interface's state over its UAPI socket.
func interfaceStatus(ctx context.Context, runDir, name string) (*uapi.Status, error) {
	sock, err := rundir.FindSocket(runDir, name)
	if err != nil {
		return nil, fmt.Errorf("%s: No such device", name)
	}
	st, err := uapi.Get(ctx, sock)
	if err != nil {
		return nil, err
	}
	st.Name = name
	return st, nil
}

// showField prints one field of a running interface while its UAPI reply
// is read; with all, each line starts with the interface's name.
func showField(ctx context.Context, w io.Writer, runDir, name, field string, all bool) error {
	prefix := ""
	if all {
		prefix = name + "\t"
	}
	fp, err := newFieldPrinter(w, field, prefix)
	if err != nil {
		return err
	}
	sock, err := rundir.FindSocket(runDir, name)
	if err != nil {
		return fmt.Errorf("%s: No such device", name)
	}
	return uapi.Visit(ctx, sock, uapi.StatusVisitor{
		Device: func(st *uapi.Status) error { fp.device(st); return nil },
		Peer:   func(p *uapi.PeerStatus) error { fp.peer(p); return nil },
	})
}

// showExtras adds what wg cannot know about a wgu netstack interface: its
// mode and its services. A TUN interface prints exactly what wg prints.
func showExtras(ctx context.Context, w io.Writer, runDir, name string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, err := daemon.Dial(ctx, runDir, name)
	if err != nil {
		return // wireguard-go, or an older wgu
	}
	defer cl.Close()
	rep, err := cl.Do(daemon.Request{Op: "info"})
	if err != nil || rep.Mode != string(tunnel.ModeNetstack) {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "wgu: netstack mode (no kernel interface), pid %d\n", rep.PID)
	for _, s := range rep.Services {
		fmt.Fprintf(w, "  service: %s\n", s)
	}
}

// useColor applies wg's rule: WG_COLOR_MODE=always|never, else colour when
// stdout is a terminal.
func useColor(f *os.File) bool {
	switch os.Getenv("WG_COLOR_MODE") {
	case "always":
		return true
	case "never":
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
