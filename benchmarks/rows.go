package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wgu-project/wgu/e2e"
	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/rundir"
)

// The lab: namespace "a" (iperf3 client) and "b" (iperf3 server) joined by
// a veth; the tunnel runs over it.
var (
	linkA   = netip.MustParsePrefix("192.168.77.1/24")
	linkB   = netip.MustParsePrefix("192.168.77.2/24")
	tunA    = netip.MustParsePrefix("10.77.0.1/24")
	tunB    = netip.MustParsePrefix("10.77.0.2/24")
	loopIP  = netip.MustParseAddr("127.0.0.1")
	wgPort  = 51820
	perfPrt = 5201
)

// How long a tunnel may take from start to its first ping reply.
const firstReplyTimeout = 15 * time.Second

// Row ids.
const (
	rowVeth              = "veth"
	rowKernel            = "kernel"
	rowWireguardGo       = "wireguard-go"
	rowDebianWireguardGo = "wireguard-go-debian"
	rowWguTUN            = "wgu-tun"
	rowWguNetstack1      = "wgu-netstack-1"
	rowWguNetstack2      = "wgu-netstack-2"
	rowWguNetstackSOCKS  = "wgu-netstack-socks"
)

// rowSpec is one implementation (a row of the results).
type rowSpec struct {
	id, name, desc string
	smoke          bool   // part of the -smoke set
	needsWg        bool   // configured with wg(8)
	kind           string // "": throughput row; kindFlood: measured by measureFlood
	setup          func(ctx context.Context, e *rowEnv) (*tunnelSetup, error)
}

func allRows() []rowSpec {
	return append([]rowSpec{
		{id: rowVeth, name: "raw veth", smoke: true, setup: setupVeth,
			desc: "iperf3 between the veth addresses, no tunnel: the ceiling"},
		{id: rowKernel, name: "kernel WireGuard", needsWg: true, setup: setupKernel,
			desc: "`ip link add type wireguard` in both namespaces, configured with wg setconf"},
		{id: rowWireguardGo, name: "wireguard-go (upstream)", needsWg: true,
			setup: func(ctx context.Context, e *rowEnv) (*tunnelSetup, error) {
				return setupWireguardGo(ctx, e, e.bench.upstream)
			},
			desc: "upstream wireguard-go -f on a TUN in both namespaces, built at the version go.mod pins"},
		{id: rowDebianWireguardGo, name: "wireguard-go (PATH)", needsWg: true,
			setup: func(ctx context.Context, e *rowEnv) (*tunnelSetup, error) {
				return setupWireguardGo(ctx, e, e.bench.debian)
			},
			desc: "the wireguard-go found on PATH (a distribution's package) on a TUN in both namespaces"},
		{id: rowWguTUN, name: "wgu TUN", smoke: true, setup: setupWguTUN,
			desc: "`wgu up --mode tun` in both namespaces"},
		{id: rowWguNetstack1, name: "wgu netstack ↔ wgu TUN", smoke: true, setup: setupWguNetstack1,
			desc: "A: `wgu up --mode netstack --forward 127.0.0.1:5201=10.77.0.2:5201`, iperf3 client to the forward; B: wgu TUN"},
		{id: rowWguNetstackSOCKS, name: "wgu netstack (SOCKS5) ↔ wgu TUN", setup: setupWguNetstackSOCKS,
			desc: "A: `wgu up --mode netstack` with `[Socks5] BindAddress = 127.0.0.1:1080`, the iperf3 client run by " +
				"proxychains4 through it to B's tunnel address (its data calls go to the socket directly); B: wgu TUN"},
		peerEngineRow(),
		{id: rowWguNetstack2, name: "wgu netstack ↔ wgu netstack", setup: setupWguNetstack2,
			desc: "A: netstack with --forward; B: netstack with --expose 5201=127.0.0.1:5201, iperf3 server on B's loopback"},
	}, append(guestRows(), floodRows()...)...)
}

func rowIDs() []string {
	var ids []string
	for _, r := range allRows() {
		ids = append(ids, r.id)
	}
	return ids
}

// selectRows returns the rows o asks for: o.Rows, else the smoke set with
// o.Smoke, else all. The PATH wireguard-go row exists only when there is
// one on PATH.
func selectRows(o Options) ([]rowSpec, error) {
	var out []rowSpec
	for _, id := range o.Rows {
		if !slices.Contains(rowIDs(), id) {
			return nil, fmt.Errorf("-rows: unknown row %q (known: %s)", id, strings.Join(rowIDs(), ", "))
		}
	}
	for _, r := range allRows() {
		switch {
		case len(o.Rows) > 0 && !slices.Contains(o.Rows, r.id):
			continue
		case len(o.Rows) == 0 && o.Smoke && !r.smoke:
			continue
		case r.id == rowDebianWireguardGo && len(o.Rows) == 0:
			if _, err := lookPath("wireguard-go"); err != nil {
				continue
			}
		case (r.id == rowKernelGuest || r.id == rowWguGuest) && len(o.Rows) == 0 && hostHasWireGuard():
			continue // the native kernel row measures the real thing
		}
		out = append(out, r)
	}
	return out, nil
}

// rowEnv is what a row's setup works with: a fresh lab of two linked
// namespaces, and a directory for its configs.
type rowEnv struct {
	bench *bench
	rowID string
	lab   *e2e.Lab
	a, b  *e2e.Netns
	link  *e2e.Link // the veth between a and b
	dir   string
	ifA   string // tunnel interface names, unique to the lab
	ifB   string
	keyA  keyPair
	keyB  keyPair
	notes []string
}

// tunnelSetup is a running tunnel (or the bare veth) ready to measure.
type tunnelSetup struct {
	target     netip.Addr // where the iperf3 client in a connects
	client     []string   // runs the iperf3 client (a proxy wrapper), if any
	serverBind netip.Addr // the iperf3 server's -B address in b, if any
	ping       pinger     // RTT samples from a to b; nil: n/a
	pids       []int      // tunnel processes, for CPU and RSS
	// pidsAB: pids are A's tunnel process, then B's, so each side's
	// peak RSS is reported too.
	pidsAB bool
	// serverRunning: the setup started the iperf3 server itself (in the
	// emulated guest), so measure does not start one in b.
	serverRunning bool
	startup       time.Duration
	teardown      func(ctx context.Context)
	// restartB takes B's tunnel down for outage and up again; set on the
	// rows that -loss measures.
	restartB func(ctx context.Context, outage time.Duration) error
}

// skipError marks a row that cannot run on this machine.
type skipError struct{ reason string }

func (s skipError) Error() string { return s.reason }

// keyPair is a WireGuard key pair in base64.
type keyPair struct{ private, public string }

func newKeyPair() (keyPair, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generating a key: %w", err)
	}
	enc := base64.StdEncoding.EncodeToString
	return keyPair{private: enc(k.Bytes()), public: enc(k.PublicKey().Bytes())}, nil
}

// end is one side of the tunnel.
type end struct {
	ns       *e2e.Netns
	ifName   string
	key      keyPair
	tun      netip.Prefix
	peerKey  string
	peerLink netip.Addr
	peerTun  netip.Addr
	extra    string // appended to a wg-quick config (netstack sections)
}

func (e *rowEnv) ends() (a, b end) {
	a = end{ns: e.a, ifName: e.ifA, key: e.keyA, tun: tunA, peerKey: e.keyB.public, peerLink: linkB.Addr(), peerTun: tunB.Addr()}
	b = end{ns: e.b, ifName: e.ifB, key: e.keyB, tun: tunB, peerKey: e.keyA.public, peerLink: linkA.Addr(), peerTun: tunA.Addr()}
	return a, b
}

// wgConfig is the end's config in wg(8) setconf format, or with Address in
// wg-quick format.
func (s end) wgConfig(quick bool) string {
	var b strings.Builder
	b.WriteString("[Interface]\n")
	fmt.Fprintf(&b, "PrivateKey = %s\nListenPort = %d\n", s.key.private, wgPort)
	if quick {
		fmt.Fprintf(&b, "Address = %s\n", s.tun)
	}
	fmt.Fprintf(&b, "\n[Peer]\nPublicKey = %s\nEndpoint = %s:%d\nAllowedIPs = %s/32\n", s.peerKey, s.peerLink, wgPort, s.peerTun)
	if quick && s.extra != "" {
		b.WriteString("\n" + s.extra)
	}
	return b.String()
}

// writeConfig writes the end's config as DIR/IFNAME.conf (0600).
func (e *rowEnv) writeConfig(s end, quick bool) (string, error) {
	path := filepath.Join(e.dir, s.ifName+".conf")
	if err := os.WriteFile(path, []byte(s.wgConfig(quick)), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}

// run runs args in ns, with the output in the error.
func run(ctx context.Context, ns *e2e.Netns, args ...string) (string, error) {
	out, errOut, err := ns.Run(ctx, args...)
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut+out))
	}
	return out, nil
}

// configureKernelSide gives an interface configured by wg(8) its config,
// address and link state.
func (e *rowEnv) configureWg(ctx context.Context, s end) error {
	path, err := e.writeConfig(s, false)
	if err != nil {
		return err
	}
	for _, args := range [][]string{
		{"wg", "setconf", s.ifName, path},
		{"ip", "addr", "add", s.tun.String(), "dev", s.ifName},
		{"ip", "link", "set", s.ifName, "up"},
	} {
		if _, err := run(ctx, s.ns, args...); err != nil {
			return fmt.Errorf("configuring %s: %w", s.ifName, err)
		}
	}
	return nil
}

func setupVeth(ctx context.Context, e *rowEnv) (*tunnelSetup, error) {
	return &tunnelSetup{target: linkB.Addr(), ping: kernelPinger(e.a, linkB.Addr())}, nil
}

func setupKernel(ctx context.Context, e *rowEnv) (*tunnelSetup, error) {
	a, b := e.ends()
	if _, err := run(ctx, b.ns, "ip", "link", "add", b.ifName, "type", "wireguard"); err != nil {
		e.bench.log.Info("no kernel WireGuard", "err", err)
		return nil, skipError{"module not available on this kernel"}
	}
	if err := e.configureWg(ctx, b); err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := run(ctx, a.ns, "ip", "link", "add", a.ifName, "type", "wireguard"); err != nil {
		return nil, fmt.Errorf("adding %s: %w", a.ifName, err)
	}
	if err := e.configureWg(ctx, a); err != nil {
		return nil, err
	}
	if err := firstReplyKernel(ctx, a.ns, tunB.Addr()); err != nil {
		return nil, err
	}
	return &tunnelSetup{target: tunB.Addr(), ping: kernelPinger(e.a, tunB.Addr()), startup: time.Since(start)}, nil
}

func setupWireguardGo(ctx context.Context, e *rowEnv, bin string) (*tunnelSetup, error) {
	if bin == "" {
		return nil, skipError{"no wireguard-go binary"}
	}
	a, b := e.ends()
	startSide := func(s end) (int, error) {
		p, err := s.ns.StartEnv([]string{"LOG_LEVEL=error"}, bin, "-f", s.ifName)
		if err != nil {
			return 0, err
		}
		sock := rundir.SocketPath(rundir.SystemDir, s.ifName)
		if err := waitFor(ctx, 10*time.Second, "socket "+sock, func() (bool, error) {
			select {
			case <-p.Done():
				return false, fmt.Errorf("wireguard-go exited: %s%s", p.Stdout(), p.Stderr())
			default:
			}
			_, err := os.Stat(sock)
			return err == nil, nil
		}); err != nil {
			return 0, err
		}
		return p.Pid(), e.configureWg(ctx, s)
	}
	pidB, err := startSide(b)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	pidA, err := startSide(a)
	if err != nil {
		return nil, err
	}
	if err := firstReplyKernel(ctx, a.ns, tunB.Addr()); err != nil {
		return nil, err
	}
	return &tunnelSetup{target: tunB.Addr(), ping: kernelPinger(e.a, tunB.Addr()), startup: time.Since(start),
		pids: []int{pidA, pidB}, pidsAB: true}, nil
}

// wguUp runs `wgu up` for s in mode with extra flags and returns the
// daemon's pid. In TUN mode it makes sure the interface has its address
// (a wgu without host configuration leaves that to the benchmark, with a
// note in the results).
func (e *rowEnv) wguUp(ctx context.Context, s end, mode string, extra ...string) (int, error) {
	path, err := e.writeConfig(s, true)
	if err != nil {
		return 0, err
	}
	args := append([]string{e.bench.wgu, "up", "-c", path, "--mode", mode}, extra...)
	if _, err := run(ctx, s.ns, args...); err != nil {
		return 0, fmt.Errorf("wgu up %s: %w%s", s.ifName, err, daemonLog(s.ifName))
	}
	st, err := daemon.ReadState(rundir.SystemDir, s.ifName)
	if err != nil {
		return 0, fmt.Errorf("reading the state of %s: %w", s.ifName, err)
	}
	if mode == "tun" {
		out, err := run(ctx, s.ns, "ip", "-o", "addr", "show", "dev", s.ifName)
		if err != nil {
			return 0, fmt.Errorf("wgu up %s made no interface: %w", s.ifName, err)
		}
		if !strings.Contains(out, " "+s.tun.String()+" ") {
			e.notes = appendUnique(e.notes, "wgu TUN did not set the interface address (no host configuration in this build): the benchmark added it with ip(8)")
			for _, a := range [][]string{
				{"ip", "addr", "add", s.tun.String(), "dev", s.ifName},
				{"ip", "link", "set", s.ifName, "up"},
			} {
				if _, err := run(ctx, s.ns, a...); err != nil {
					return 0, fmt.Errorf("configuring %s: %w", s.ifName, err)
				}
			}
		}
	}
	return st.PID, nil
}

// mtuPattern finds the MTU in `ip -o link` output.
var mtuPattern = regexp.MustCompile(` mtu ([0-9]+) `)

// noteMTU records the MTU of the tunnel interfaces (where they exist), as
// it bounds throughput.
func (e *rowEnv) noteMTU(ctx context.Context) {
	a, b := e.ends()
	var mtus []string
	for _, s := range []end{a, b} {
		out, err := run(ctx, s.ns, "ip", "-o", "link", "show", "dev", s.ifName)
		if m := mtuPattern.FindStringSubmatch(out); err == nil && m != nil {
			mtus = append(mtus, fmt.Sprintf("%s %s", s.ns.Role, m[1]))
		}
	}
	if len(mtus) > 0 {
		e.notes = appendUnique(e.notes, "tunnel interface MTU: "+strings.Join(mtus, ", "))
	}
}

// wguDown is a teardown that takes the given interfaces down gracefully
// (the lab kills whatever remains).
func (e *rowEnv) wguDown(ends ...end) func(context.Context) {
	return func(ctx context.Context) {
		for _, s := range ends {
			if _, err := run(ctx, s.ns, e.bench.wgu, "down", s.ifName); err != nil {
				e.bench.log.Warn("wgu down failed", "interface", s.ifName, "err", err)
			}
		}
	}
}

// wguRestart is a restartB that takes s down with wgu down and brings it
// up again in mode.
func (e *rowEnv) wguRestart(s end, mode string) func(context.Context, time.Duration) error {
	return func(ctx context.Context, outage time.Duration) error {
		if _, err := run(ctx, s.ns, e.bench.wgu, "down", s.ifName); err != nil {
			return fmt.Errorf("wgu down %s: %w", s.ifName, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(outage):
		}
		_, err := e.wguUp(ctx, s, mode)
		return err
	}
}

func daemonLog(name string) string {
	b, err := os.ReadFile(rundir.LogPath(rundir.SystemDir, name))
	if err != nil || len(b) == 0 {
		return ""
	}
	return "\ndaemon log:\n" + string(b)
}

func setupWguTUN(ctx context.Context, e *rowEnv) (*tunnelSetup, error) {
	a, b := e.ends()
	pidB, err := e.wguUp(ctx, b, "tun")
	if err != nil {
		return nil, err
	}
	start := time.Now()
	pidA, err := e.wguUp(ctx, a, "tun")
	if err != nil {
		return nil, err
	}
	if err := firstReplyKernel(ctx, a.ns, tunB.Addr()); err != nil {
		return nil, err
	}
	return &tunnelSetup{target: tunB.Addr(), ping: kernelPinger(e.a, tunB.Addr()), startup: time.Since(start),
		pids: []int{pidA, pidB}, pidsAB: true, teardown: e.wguDown(a, b), restartB: e.wguRestart(b, "tun")}, nil
}

// forwardFlag relays the iperf3 port on a's loopback to b's tunnel address.
func forwardFlag() []string {
	return []string{"--forward", fmt.Sprintf("%s:%d=%s:%d", loopIP, perfPrt, tunB.Addr(), perfPrt)}
}

// setupWguNetstack1: side A on its netstack, iperf3 reaching B through a
// --forward; B on a TUN.
func setupWguNetstack1(ctx context.Context, e *rowEnv) (*tunnelSetup, error) {
	return setupWguNetstack(ctx, e, false)
}

// setupWguNetstack2: both sides on netstacks; B publishes the iperf3
// server on its tunnel address with --expose.
func setupWguNetstack2(ctx context.Context, e *rowEnv) (*tunnelSetup, error) {
	return setupWguNetstack(ctx, e, true)
}

func setupWguNetstack(ctx context.Context, e *rowEnv, bothSides bool) (*tunnelSetup, error) {
	a, b := e.ends()
	modeB, argsB, serverBind := "tun", []string(nil), netip.Addr{}
	if bothSides {
		modeB, argsB, serverBind = "netstack", []string{"--expose", fmt.Sprintf("%d=%s:%d", perfPrt, loopIP, perfPrt)}, loopIP
	}
	pidB, err := e.wguUp(ctx, b, modeB, argsB...)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	pidA, err := e.wguUp(ctx, a, "netstack", forwardFlag()...)
	if err != nil {
		return nil, err
	}
	if err := e.firstReplyWgu(ctx, a, tunB.Addr()); err != nil {
		return nil, err
	}
	setup := &tunnelSetup{target: loopIP, serverBind: serverBind, ping: e.wguPinger(a, tunB.Addr()), startup: time.Since(start),
		pids: []int{pidA, pidB}, pidsAB: true, teardown: e.wguDown(a, b)}
	if !bothSides {
		setup.restartB = e.wguRestart(b, modeB)
	}
	return setup, nil
}

// socksPort is where the SOCKS5 row's A serves SOCKS5 on its loopback.
const socksPort = 1080

// setupWguNetstackSOCKS: side A on its netstack with a SOCKS5 server, the
// iperf3 client reaching B's tunnel address through it (proxychains4 sends
// its connects to the proxy; the data goes to the socket it got); B on a
// TUN.
func setupWguNetstackSOCKS(ctx context.Context, e *rowEnv) (*tunnelSetup, error) {
	proxychains, err := lookPath("proxychains4")
	if err != nil {
		return nil, skipError{"proxychains4 is not installed (apt-get install proxychains4)"}
	}
	conf := filepath.Join(e.dir, "proxychains.conf")
	text := fmt.Sprintf("strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\nsocks5 %s %d\n", loopIP, socksPort)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", conf, err)
	}
	a, b := e.ends()
	a.extra = fmt.Sprintf("[Socks5]\nBindAddress = %s:%d\n", loopIP, socksPort)
	pidB, err := e.wguUp(ctx, b, "tun")
	if err != nil {
		return nil, err
	}
	start := time.Now()
	pidA, err := e.wguUp(ctx, a, "netstack")
	if err != nil {
		return nil, err
	}
	if err := e.firstReplyWgu(ctx, a, tunB.Addr()); err != nil {
		return nil, err
	}
	return &tunnelSetup{target: tunB.Addr(), client: []string{proxychains, "-q", "-f", conf},
		ping: e.wguPinger(a, tunB.Addr()), startup: time.Since(start),
		pids: []int{pidA, pidB}, pidsAB: true, teardown: e.wguDown(a, b)}, nil
}

// firstReplyKernel waits for the first reply of ping(8) sending every 10 ms.
func firstReplyKernel(ctx context.Context, ns *e2e.Netns, addr netip.Addr) error {
	secs := fmt.Sprint(int(firstReplyTimeout / time.Second))
	if _, err := run(ctx, ns, "ping", "-n", "-q", "-c", "1", "-i", "0.01", "-w", secs, addr.String()); err != nil {
		return fmt.Errorf("no ping reply from %s within %s: %w", addr, firstReplyTimeout, err)
	}
	return nil
}

// firstReplyWgu waits for the first reply to `wgu ping` from s's stack.
func (e *rowEnv) firstReplyWgu(ctx context.Context, s end, addr netip.Addr) error {
	var last error
	err := waitFor(ctx, firstReplyTimeout, "a ping reply from "+addr.String(), func() (bool, error) {
		_, last = run(ctx, s.ns, e.bench.wgu, "ping", "-I", s.ifName, "-c", "1", "-W", "500ms", addr.String())
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last: %v)", err, last)
	}
	return nil
}

// waitFor polls cond every 10 ms until it holds, fails, or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// labReporter hands the lab's failures to runRep as panics (Fatal must not
// return) and its logs to slog.
type labReporter struct{ log *slog.Logger }

type labFatal struct{ msg string }

func (r labReporter) Helper()                    {}
func (r labReporter) Logf(f string, args ...any) { r.log.Info(fmt.Sprintf(f, args...)) }
func (r labReporter) Fatal(args ...any)          { panic(labFatal{fmt.Sprint(args...)}) }
func (r labReporter) Fatalf(f string, args ...any) {
	panic(labFatal{fmt.Sprintf(f, args...)})
}

// runRep runs one repetition of row s in a fresh lab, which it removes
// again whatever happens.
func (b *bench) runRep(ctx context.Context, s rowSpec) (res *RepResult, err error) {
	res = &RepResult{Metrics: map[string]float64{}}
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(labFatal)
			if !ok {
				panic(p)
			}
			err = errors.New(f.msg)
		}
	}()
	lab, err := e2e.NewLabFor(labReporter{b.log})
	if err != nil {
		return res, err
	}
	defer lab.Close()
	dir, err := os.MkdirTemp(b.tmp, s.id+"-")
	if err != nil {
		return res, fmt.Errorf("making a config directory: %w", err)
	}
	e := &rowEnv{bench: b, rowID: s.id, lab: lab, dir: dir, ifA: lab.IfName("a"), ifB: lab.IfName("b")}
	defer func() { res.notes = e.notes }()
	if e.keyA, err = newKeyPair(); err != nil {
		return res, err
	}
	if e.keyB, err = newKeyPair(); err != nil {
		return res, err
	}
	e.a, e.b = lab.Netns("a"), lab.Netns("b")
	e.link = lab.Link(e.a, e.b, linkA, linkB)

	setup, err := s.setup(ctx, e)
	if err != nil {
		return res, err
	}
	e.noteMTU(ctx)
	if setup.teardown != nil {
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			setup.teardown(ctx)
		}()
	}
	if s.kind == kindFlood {
		return res, b.measureFlood(ctx, e, setup, res)
	}
	return res, b.measure(ctx, e, setup, res)
}
