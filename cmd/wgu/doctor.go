package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/vishvananda/netlink"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/doctor"
	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "check an interface (running or not) and say what to fix",
		ArgsUsage: "[NAME | FILE]",
		Description: "Runs the hub-and-spoke troubleshooting checks: the config (keys, AllowedIPs, endpoints,\n" +
			"keepalive behind NAT), a real handshake with each peer, the host (TUN mode: link, routes,\n" +
			"policy rules, ip_forward, firewall, rp_filter), the path MTU, and rootless services.\n" +
			"Give the other side's config too (-c a.conf -c b.conf, or --peer-config) to check the\n" +
			"pair. Exit status: 0 all ✔, 1 something ✘, 2 only warnings (!). Changes nothing.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "config", Aliases: []string{"c"}, Usage: "wg-quick config `FILE`; a second -c is the other side's config"},
			&cli.StringSliceFlag{Name: "peer-config", Usage: "the other side's config `FILE` (repeatable)"},
			runDirFlag,
			&cli.DurationFlag{Name: "timeout", Value: doctor.DefaultHandshakeTimeout, Usage: "how long each peer gets to answer a handshake"},
			&cli.BoolFlag{Name: "json", Usage: "print the results as JSON"},
		},
		Action: runDoctor,
	}
}

// doctorReport is `wgu doctor --json`'s output.
type doctorReport struct {
	Interface string          `json:"interface"`
	Config    string          `json:"config,omitempty"`
	Running   bool            `json:"running"`
	Mode      tunnel.Mode     `json:"mode,omitempty"`
	Status    doctor.Status   `json:"status"`
	Seconds   float64         `json:"seconds"`
	Results   []doctor.Result `json:"results"`
}

func runDoctor(c *cli.Context) error {
	start := time.Now()
	var rep doctorReport
	t, err := doctorTarget(c)
	switch {
	case errors.Is(err, config.ErrInvalidConfig):
		// A config wgu refuses is the first finding, not a usage error.
		rep.Results = []doctor.Result{{Status: doctor.Fail, ID: "config.parse", Finding: err.Error(),
			Fix: "correct that line (wg-quick's format: see `wgu showconf` of a working interface)"}}
	case err != nil:
		return err
	default:
		rep.Results = doctor.Run(c.Context, t, doctor.Options{HandshakeTimeout: c.Duration("timeout")})
		rep.Interface, rep.Config, rep.Running = t.Config.Name, t.Path, t.Running != nil
		if t.Running != nil {
			rep.Mode = t.Running.Mode
		}
	}
	rep.Status, rep.Seconds = doctor.Worst(rep.Results), time.Since(start).Seconds()
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printDoctor(os.Stdout, rep)
	}
	switch rep.Status {
	case doctor.Fail:
		return exitSilently(1)
	case doctor.Warn:
		return exitSilently(2)
	}
	return nil
}

func printDoctor(w io.Writer, rep doctorReport) {
	state := "not up"
	if rep.Running {
		state = "running"
		if rep.Mode != "" {
			state += ", " + string(rep.Mode) + " mode"
		}
	}
	fmt.Fprintf(w, "wgu doctor: %s (%s)\n", rep.Interface, state)
	counts := map[doctor.Status]int{}
	for _, r := range rep.Results {
		counts[r.Status]++
		line := r.Status.Symbol() + " " + fmt.Sprintf("%-27s ", r.ID)
		if r.Subject != "" {
			line += r.Subject + ": "
		}
		line += r.Finding
		if r.Fix != "" {
			line += " → fix: " + r.Fix
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "%d ✔, %d !, %d ✘ in %.1f s\n", counts[doctor.OK], counts[doctor.Warn], counts[doctor.Fail], rep.Seconds)
}

// doctorTarget works out what to examine: the config file (first -c, or
// NAME|FILE), the other sides' configs, and the running interface of that
// name, if any.
func doctorTarget(c *cli.Context) (*doctor.Target, error) {
	configs := c.StringSlice("config")
	others := c.StringSlice("peer-config")
	var path, name string
	switch {
	case len(configs) > 0 && c.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q after -c %s", c.Args().First(), configs[0])
	case len(configs) > 0:
		path = configs[0]
		others = append(configs[1:], others...)
		var err error
		if path, name, err = config.ResolveConfigPath(path, confDir); err != nil {
			return nil, err
		}
	case c.NArg() == 1 && validName(c.Args().First()):
		// A running interface needs no file; /etc/wireguard/NAME.conf is
		// used when it exists.
		name = c.Args().First()
		if p := filepath.Join(confDir, name+".conf"); fileExists(p) {
			path = p
		}
	case c.NArg() == 1:
		var err error
		if path, name, err = config.ResolveConfigPath(c.Args().First(), confDir); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("expected one interface NAME or config FILE (or -c FILE)")
	}
	t := &doctor.Target{}
	running, cfgPath, err := findDoctorRunning(c, name)
	if err != nil {
		return nil, err
	}
	t.Running = running
	if path == "" {
		path = cfgPath
	}
	switch {
	case path != "":
		side, err := doctor.LoadSide(path)
		if err != nil {
			return nil, err
		}
		side.Config.Name = name
		t.Side = side
	case running != nil:
		t.Side = doctor.SideFromStatus(running.Status)
	default:
		return nil, fmt.Errorf("`%s' is neither a running interface nor a config file (%s): %w", name,
			filepath.Join(confDir, name+".conf"), rundir.ErrNoInterface)
	}
	for _, o := range others {
		side, err := doctor.LoadSide(o)
		if err != nil {
			return nil, err
		}
		t.Others = append(t.Others, side)
	}
	return t, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// findDoctorRunning returns the running interface called name (nil if none)
// and the config file its daemon recorded.
func findDoctorRunning(c *cli.Context, name string) (*doctor.Running, string, error) {
	sock, err := rundir.FindSocket(c.String("run-dir"), name)
	if err != nil {
		return nil, "", nil
	}
	st, err := uapi.Get(c.Context, sock)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s's state: %w", name, err)
	}
	st.Name = name
	dir := filepath.Dir(sock)
	r := &doctor.Running{Status: st, Socket: sock, RunDir: dir}
	var cfgPath string
	if state, err := daemon.ReadState(dir, name); err == nil {
		r.Mode = tunnel.Mode(state.Mode)
		cfgPath = state.ConfigPath
		if state.Host != nil && state.Host.Link != "" {
			r.Link = state.Host.Link
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	if r.Mode == "" || r.Mode == tunnel.ModeTUN {
		if _, err := netlink.LinkByName(name); err == nil && r.Link == "" {
			r.Link = name
			if r.Mode == "" {
				r.Mode = tunnel.ModeTUN
			}
		}
	}
	return r, cfgPath, nil
}
