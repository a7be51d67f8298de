package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/peerbook"
	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// defaultClientKeepalive keeps a phone's NAT mapping open, as wg-easy and
// PiVPN default to.
const defaultClientKeepalive = 25

func peerCommand() *cli.Command {
	flags := []cli.Flag{runDirFlag}
	return &cli.Command{
		Name:  "peer",
		Usage: "add, list, show, remove, enable and disable a running hub's peers",
		Description: "The hub's config file stays the source of truth: each change is written to it\n" +
			"(atomically, keeping its comments and layout) and then applied live, like\n" +
			"`wgu reload`: other peers' sessions are not touched. A peer is named by a\n" +
			"`# Name = NAME` comment in its [Peer] block; a disabled peer's block is commented\n" +
			"out with `# disabled: ` on every line. Works on a TUN hub (as root) and on a\n" +
			"rootless netstack hub (as its user).",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "make a new client: keys, an address, a [Peer] block, and its config (and QR code)",
				ArgsUsage: "IFACE NAME",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "ip", Value: "auto", Usage: "the client's tunnel `ADDR`[,ADDR] or auto (the next free address in the hub's subnet)"},
					&cli.StringFlag{Name: "allowed-ips", Usage: "what the client sends through the tunnel, `CIDR`[,CIDR] (default: the hub's subnets; 0.0.0.0/0, ::/0 for everything)"},
					&cli.StringFlag{Name: "dns", Usage: "DNS servers for the client, `IP`[,IP]"},
					&cli.UintFlag{Name: "keepalive", Value: defaultClientKeepalive, Usage: "the client's PersistentKeepalive in `SECONDS` (0: off)"},
					&cli.StringFlag{Name: "endpoint", Usage: "the hub's public `HOST:PORT` (default: `# Endpoint = …` in the hub's [Interface]; a bare HOST gets its ListenPort)"},
					&cli.BoolFlag{Name: "psk", Usage: "add a preshared key"},
					&cli.BoolFlag{Name: "keep-client-key", Usage: "keep the client's private key in the hub's file so 'wgu peer show' can print its config again"},
					&cli.BoolFlag{Name: "qr", Usage: "also print the config as a QR code (UTF-8 half blocks) for the WireGuard phone apps"},
					&cli.StringFlag{Name: "out", Usage: "write the config to `FILE` (a QR code image when FILE ends in .png)"},
				}, flags...),
				Action: runPeerAdd,
			},
			{
				Name:      "list",
				Usage:     "list the hub's peers: names, addresses, last handshake, transfer",
				ArgsUsage: "IFACE",
				Flags:     flags,
				Action:    runPeerList,
			},
			{
				Name:      "show",
				Usage:     "print a client's config again (only if it was added with --keep-client-key)",
				ArgsUsage: "IFACE NAME|KEY",
				Flags: append([]cli.Flag{
					&cli.BoolFlag{Name: "qr", Usage: "also print the config as a QR code"},
					&cli.StringFlag{Name: "out", Usage: "write the config to `FILE` (a QR code image when FILE ends in .png)"},
				}, flags...),
				Action: runPeerShow,
			},
			{
				Name:      "remove",
				Usage:     "remove a peer from the file and the running hub",
				ArgsUsage: "IFACE NAME|KEY",
				Flags:     flags,
				Action:    runPeerRemove,
			},
			{
				Name:      "disable",
				Usage:     "comment a peer's block out and remove it from the running hub",
				ArgsUsage: "IFACE NAME|KEY",
				Flags:     flags,
				Action:    func(c *cli.Context) error { return runPeerEnable(c, false) },
			},
			{
				Name:      "enable",
				Usage:     "restore a disabled peer's block and add it to the running hub",
				ArgsUsage: "IFACE NAME|KEY",
				Flags:     flags,
				Action:    func(c *cli.Context) error { return runPeerEnable(c, true) },
			},
		},
	}
}

// hub is a running hub found by its interface name.
type hub struct {
	name, dir string
	book      *peerbook.PeerBook
}

// findHub locates a running wgu interface and the config file it runs from.
func findHub(c *cli.Context, name string) (*hub, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%q is not an interface name", name)
	}
	for _, dir := range rundir.RunDirs(c.String("run-dir")) {
		st, err := daemon.ReadState(dir, name)
		if errors.Is(err, daemon.ErrBadState) {
			return nil, err // an untrusted run directory or state names no file to edit
		}
		if err != nil {
			continue
		}
		if !st.ProcessAlive() {
			return nil, fmt.Errorf("%s is not running (its daemon, pid %d, is gone; `wgu down %s` cleans up)", name, st.PID, name)
		}
		if st.ConfigPath == "" {
			return nil, fmt.Errorf("%s runs without a config file wgu knows (a wireguard-go style daemon); use `wgu set` there", name)
		}
		h := &hub{name: name, dir: dir}
		h.book = &peerbook.PeerBook{Path: st.ConfigPath, Apply: h.reload}
		return h, nil
	}
	return nil, fmt.Errorf("`%s' is not a running wgu interface (no state in %s): %w", name, strings.Join(rundir.RunDirs(c.String("run-dir")), " or "), rundir.ErrNoInterface)
}

// reload makes the daemon re-read its file.
func (h *hub) reload(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	cl, err := daemon.Dial(ctx, h.dir, h.name)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = cl.Do(daemon.Request{Op: "reload"})
	return err
}

// status is the device's live state, or nil.
func (h *hub) status(ctx context.Context) *uapi.Status {
	st, err := uapi.Get(ctx, rundir.SocketPath(h.dir, h.name))
	if err != nil {
		return nil
	}
	return st
}

func argsN(c *cli.Context, n int, usage string) ([]string, error) {
	if c.NArg() != n {
		return nil, fmt.Errorf("usage: wgu %s %s", c.Command.FullName(), usage)
	}
	return c.Args().Slice(), nil
}

func runPeerAdd(c *cli.Context) error {
	args, err := argsN(c, 2, "IFACE NAME [flags]")
	if err != nil {
		return err
	}
	np := peerbook.NewPeer{Name: args[1], Endpoint: c.String("endpoint"), PresharedKey: c.Bool("psk"), KeepClientKey: c.Bool("keep-client-key")}
	if err := peerbook.CheckPeerName(np.Name); err != nil {
		return err
	}
	if ip := c.String("ip"); ip != "auto" {
		if np.Address, err = config.ParsePrefixList(ip); err != nil {
			return fmt.Errorf("--ip: %w", err)
		}
	}
	if v := c.String("allowed-ips"); v != "" {
		if np.AllowedIPs, err = config.ParsePrefixList(v); err != nil {
			return fmt.Errorf("--allowed-ips: %w", err)
		}
	}
	if v := c.String("dns"); v != "" {
		for _, s := range strings.Split(v, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("--dns %q: expected IP[,IP]", v)
			}
			np.DNS = append(np.DNS, a)
		}
	}
	if k := c.Uint("keepalive"); k > 65535 {
		return fmt.Errorf("--keepalive %d: expected 0 to 65535 seconds", k)
	} else {
		np.Keepalive = uint16(k)
	}
	out := c.String("out")
	h, err := findHub(c, args[0])
	if err != nil {
		return err
	}
	added, err := h.book.Add(c.Context, np)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Added peer %s (%s, public key %s) to %s (%s)\n", added.Name, joinPrefixList(added.Address), added.PublicKey, h.name, h.book.Path)
	if !np.KeepClientKey {
		fmt.Fprintln(os.Stderr, "The client's private key is in this config only; it is not kept (see --keep-client-key).")
	}
	return printClientConfig(os.Stdout, added.ClientConfig, c.Bool("qr"), out)
}

// printClientConfig prints a client config, its QR code, or writes it to a
// file (a PNG QR code when the name ends in .png).
func printClientConfig(w io.Writer, conf []byte, qr bool, out string) error {
	if out != "" {
		data := conf
		if strings.EqualFold(filepath.Ext(out), ".png") {
			png, err := pngQR(string(conf))
			if err != nil {
				return err
			}
			data = png
		}
		// The config holds the client's private key: 0600.
		if err := os.WriteFile(out, data, 0o600); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		fmt.Fprintf(os.Stderr, "Wrote %s\n", out)
	}
	if _, err := w.Write(conf); err != nil {
		return err
	}
	if qr {
		text, err := terminalQR(string(conf))
		if err != nil {
			return err
		}
		fmt.Fprint(w, "\n"+text)
	}
	return nil
}

func joinPrefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func runPeerList(c *cli.Context) error {
	args, err := argsN(c, 1, "IFACE")
	if err != nil {
		return err
	}
	h, err := findHub(c, args[0])
	if err != nil {
		return err
	}
	entries, err := h.book.Entries()
	if err != nil {
		return err
	}
	writePeerList(os.Stdout, peerbook.PeerViews(entries, h.status(c.Context)), time.Now())
	return nil
}

// writePeerList prints one line per peer; the columns are stable for scripts
// (tab separated when piped through `column -t -s $'\t'`).
func writePeerList(w io.Writer, views []peerbook.PeerView, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESSES\tSTATE\tHANDSHAKE\tRECEIVED\tSENT\tPUBLIC KEY")
	var p painter
	for _, v := range views {
		name := v.Name
		if name == "" {
			name = "-"
		}
		state := "enabled"
		switch {
		case v.Disabled:
			state = "disabled"
		case !v.InFile:
			state = "not-in-file"
		case !v.Live:
			state = "not-live"
		}
		hs := "never"
		if !v.LastHandshake.IsZero() {
			hs = handshakeAge(v.LastHandshake, now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, joinPrefixList(v.AllowedIPs), state, hs, p.bytes(v.RxBytes), p.bytes(v.TxBytes), v.PublicKey)
	}
	tw.Flush()
}

// handshakeAge is "12s ago", "3m4s ago".
func handshakeAge(t, now time.Time) string {
	d := now.Sub(t).Truncate(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}

func runPeerShow(c *cli.Context) error {
	args, err := argsN(c, 2, "IFACE NAME|KEY")
	if err != nil {
		return err
	}
	h, err := findHub(c, args[0])
	if err != nil {
		return err
	}
	conf, err := h.book.ClientConfig(args[1])
	if errors.Is(err, peerbook.ErrClientKeyNotKept) {
		entries, _ := h.book.Entries()
		for _, v := range peerbook.PeerViews(entries, h.status(c.Context)) {
			if v.Name == args[1] || v.PublicKey.String() == args[1] {
				writePeerList(os.Stdout, []peerbook.PeerView{v}, time.Now())
			}
		}
		return err
	}
	if err != nil {
		return err
	}
	return printClientConfig(os.Stdout, conf, c.Bool("qr"), c.String("out"))
}

func runPeerRemove(c *cli.Context) error {
	args, err := argsN(c, 2, "IFACE NAME|KEY")
	if err != nil {
		return err
	}
	h, err := findHub(c, args[0])
	if err != nil {
		return err
	}
	e, err := h.book.Remove(c.Context, args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Removed peer %s (%s) from %s\n", orKey(e.Name, e.PublicKey), joinPrefixList(e.AllowedIPs), h.name)
	return nil
}

func runPeerEnable(c *cli.Context, enabled bool) error {
	args, err := argsN(c, 2, "IFACE NAME|KEY")
	if err != nil {
		return err
	}
	h, err := findHub(c, args[0])
	if err != nil {
		return err
	}
	if err := h.book.SetEnabled(c.Context, args[1], enabled); err != nil {
		return err
	}
	word := "Disabled"
	if enabled {
		word = "Enabled"
	}
	fmt.Fprintf(os.Stderr, "%s peer %s on %s\n", word, args[1], h.name)
	return nil
}

func orKey(name string, k config.Key) string {
	if name != "" {
		return name
	}
	return k.String()
}

// peerBoolFlags are the flags of `wgu peer …` and `wgu addpeer` that take
// no value.
var peerBoolFlags = map[string]bool{"psk": true, "keep-client-key": true, "qr": true, "help": true, "h": true}

// flagsFirst lets `wgu peer` and `wgu addpeer` take flags after their
// arguments, as the tutorial writes `wgu addpeer wg0 KEY --allowed-ips …`
// (the CLI library stops at the first argument): it moves the flags of
// those commands in front of their arguments. Other commands are left alone.
func flagsFirst(args []string) []string {
	cmdEnd := 0 // index after the command words
	switch {
	case len(args) > 1 && args[1] == "addpeer":
		cmdEnd = 2
	case len(args) > 2 && args[1] == "peer":
		cmdEnd = 3
	default:
		return args
	}
	var flags, positional []string
	rest := args[cmdEnd:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && !peerBoolFlags[name] && i+1 < len(rest) {
			i++
			flags = append(flags, rest[i])
		}
	}
	out := append(append([]string{}, args[:cmdEnd]...), flags...)
	if len(positional) > 0 {
		out = append(out, "--")
	}
	return append(out, positional...)
}
