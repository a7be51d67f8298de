package tunnel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/internal/hostcfg"
	"github.com/wgu-project/wgu/internal/pathmtu"
	"github.com/wgu-project/wgu/internal/rundir"
	"github.com/wgu-project/wgu/netstackx"
	"github.com/wgu-project/wgu/netstackx/udpbind"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// Mode is where a tunnel's packets go: a kernel TUN or wgu's userspace stack.
type Mode string

const (
	ModeAuto     Mode = "auto"     // TUN when possible, else netstack
	ModeTUN      Mode = "tun"      // kernel TUN: needs root or CAP_NET_ADMIN and /dev/net/tun
	ModeNetstack Mode = "netstack" // gVisor netstack: needs no privileges
)

// ParseMode checks a --mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeTUN, ModeNetstack:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: expected auto, tun or netstack", s)
}

// ErrExists is returned by Up when an interface of that name is already running.
var ErrExists = rundir.ErrExists

// ErrClosed is returned by operations on a closed tunnel.
var ErrClosed = errors.New("tunnel closed")

// UpOption changes how Up brings a tunnel up.
type UpOption func(*options)

type options struct {
	log        *slog.Logger
	mode       Mode
	runDir     string // "" means no UAPI socket and no state file
	hookOut    io.Writer
	hookShell  string // tests: the shell hooks run with ("" looks for one)
	configPath string
	resolver   config.Resolver
	forwarding *bool // nil: on when the interface has more than one peer
	userspace  userspaceOptions
	loader     func() (*config.Config, error)
	refresh    endpointRefresh
	newBind    func() conn.Bind // nil: udpbind.New; tests compare wireguard-go's
	// probePathMTU: tests substitute the path MTU probe (nil: the real one).
	probePathMTU pathmtu.Prober
}

// WithLogger sends the tunnel's logs (wireguard-go's included) to l.
func WithLogger(l *slog.Logger) UpOption { return func(o *options) { o.log = l } }

// WithMode chooses the backend; the default is ModeAuto.
func WithMode(m Mode) UpOption { return func(o *options) { o.mode = m } }

// WithUAPISocket makes the tunnel listen on dir/NAME.sock with wireguard's
// UAPI protocol (so `wg` works on it) and record its host changes in
// dir/NAME.state, so that Cleanup can undo them after a crash, and a later
// Up of the same name takes them over. With it, a full tunnel on a TUN
// keeps a kill switch while its process is dead, until Cleanup.
func WithUAPISocket(dir string) UpOption { return func(o *options) { o.runDir = dir } }

// WithHooks runs the config's PreUp/PostUp/PreDown/PostDown commands, echoing
// each as "[#] cmd" to out together with its output, as wg-quick does.
// Without it, hooks are not run (the library default).
func WithHooks(out io.Writer) UpOption { return func(o *options) { o.hookOut = out } }

// WithConfigPath names the file the config came from; with SaveConfig = true,
// Down writes the live configuration back to it.
func WithConfigPath(path string) UpOption { return func(o *options) { o.configPath = path } }

// WithResolver resolves endpoint host names; the default is net.DefaultResolver.
func WithResolver(r config.Resolver) UpOption { return func(o *options) { o.resolver = r } }

// WithForwarding turns routing between peers on or off in netstack mode
// (the rootless hub). By default it is on when the config has more than one
// peer, as a hub's does. TUN mode leaves forwarding to the kernel.
func WithForwarding(on bool) UpOption { return func(o *options) { o.forwarding = &on } }

// WithConfigLoader gives the tunnel a way to re-read its config:
// ReloadConfig (and the control socket's "reload" op) call load and apply
// the result with Reload.
func WithConfigLoader(load func() (*config.Config, error)) UpOption {
	return func(o *options) { o.loader = load }
}

// Tunnel is a running WireGuard interface.
type Tunnel struct {
	// mu serialises Reload, endpoint refreshes and the start of Close;
	// cfgMu guards cfg, which Reload replaces while holding both (so
	// holding mu is enough to read it).
	mu      sync.Mutex
	closing bool // under mu: Close has begun, nothing may change the device
	cfgMu   sync.RWMutex
	cfg     *config.Config
	opts    options
	log     *slog.Logger
	mode    Mode

	tdev tun.Device
	ns   *netstackx.Device // netstack mode only
	bind conn.Bind
	dev  *device.Device
	host *hostcfg.State // TUN mode: what was changed on the host
	uapi *uapi.Server   // nil without WithUAPISocket
	ctl  *daemon.ControlServer
	svcs *serviceSet

	// hostBehind is set (under mu) when a Reload failed to bring the
	// host's addresses and routes to its config, so that the next one
	// tries again even if it changes none of them.
	hostBehind bool

	ddns ddnsRunner // re-resolves host-name endpoints

	// stopPathMTU stops the path MTU probes startPathMTU began; nil if none.
	stopPathMTU func()

	// prev is what a crashed predecessor left on the host, until Up has
	// taken over what it wants and undone the rest.
	prev *hostcfg.State

	// peersTouched is set when something other than Up and Reload may
	// have changed the device's peers (the UAPI socket's set requests,
	// SetPeer, RemovePeer, a Reload that failed half-way): until then they
	// are exactly the config's, and Reload need not list them.
	peersTouched atomic.Bool

	// hooksByCaller is set when `wgu down` runs PreDown and PostDown
	// itself, so that Down does not run them again.
	hooksByCaller atomic.Bool

	// httpClient is HTTPClient's, made on first use.
	httpOnce   sync.Once
	httpClient *http.Client

	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
}

// Up brings the configured interface up and returns once packets can flow:
// the device is configured, addresses and routes are set (TUN mode), the
// UAPI socket listens (with WithUAPISocket) and PostUp has run (WithHooks).
// On error, everything done so far is undone. A config Up cannot run fails
// with an error wrapping ErrInvalidConfig before anything is done, and so
// does a ctx that is already cancelled (with ctx.Err()).
func Up(ctx context.Context, cfg *config.Config, opts ...UpOption) (_ *Tunnel, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{mode: ModeAuto, resolver: net.DefaultResolver, refresh: endpointRefresh{interval: defaultRefreshInterval, stale: defaultStaleAfter}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	log := o.log.With("iface", cfg.Name)
	for _, w := range cfg.Warnings() {
		log.Warn(w.String())
	}
	t := &Tunnel{cfg: cfg, opts: o, log: log, done: make(chan struct{})}
	if err := o.userspace.check(&o); err != nil {
		t.closeUnused()
		return nil, err
	}

	// Resolve endpoints before touching anything: a bad name fails early.
	uapiText, endpoints, err := cfg.UAPISetEndpoints(ctx, o.resolver)
	if err != nil {
		t.closeUnused()
		return nil, err
	}
	if err := checkListenPort(cfg, o.configPath); err != nil {
		t.closeUnused()
		return nil, err
	}
	if o.runDir != "" {
		if err := rundir.ClaimSocket(o.runDir, cfg.Name); err != nil {
			t.closeUnused()
			return nil, err
		}
		if t.prev, err = daemon.TakeOver(ctx, log, o.runDir, cfg.Name); err != nil {
			t.closeUnused()
			return nil, err
		}
	}

	defer func() {
		if err != nil {
			t.teardown()
		}
	}()

	if err := t.openDevice(); err != nil {
		return nil, err
	}
	if err := t.runHooks(ctx, "PreUp", cfg.Interface.PreUp); err != nil {
		return nil, err
	}
	if err := t.dev.IpcSet(uapiText); err != nil {
		return nil, fmt.Errorf("configuring device: %w", err)
	}
	if t.mode == ModeTUN && !o.userspace.noHost {
		if err := t.configureHost(ctx, endpoints); err != nil {
			return nil, err
		}
	}
	if t.prev != nil {
		// What the predecessor left and this configuration does not want.
		if err := t.prev.Undo(context.WithoutCancel(ctx), log); err != nil {
			log.Warn("undoing what the previous process left", "err", err)
		}
		t.prev = nil
	}
	if !o.userspace.noHost { // else the link's state drives the device
		if err := t.dev.Up(); err != nil {
			return nil, fmt.Errorf("bringing device up: %w", err)
		}
		// Taken since checkListenPort looked: wireguard-go fell back to a
		// random port.
		if want := cfg.Interface.ListenPort; want != 0 {
			if got, err := t.listenPort(); err == nil && got != want {
				return nil, listenPortInUse(o.configPath, want)
			}
		}
	}
	if err := t.startServices(); err != nil {
		return nil, err
	}
	if o.userspace.uapi != nil {
		if err := t.serveUserspaceUAPI(); err != nil {
			return nil, err
		}
	}
	if o.runDir != "" {
		if t.uapi, err = uapi.Listen(o.runDir, cfg.Name, t.dev, &t.peersTouched, log); err != nil {
			return nil, err
		}
		if t.ctl, err = daemon.ListenControl(o.runDir, cfg.Name, t.handleControl, log); err != nil {
			return nil, err
		}
		if err := t.writeState(); err != nil {
			return nil, err
		}
	}
	if err := t.runHooks(ctx, "PostUp", cfg.Interface.PostUp); err != nil {
		return nil, err
	}
	t.startDDNS()
	t.startPathMTU(endpoints)
	go func() {
		// wireguard-go closes the device when its TUN goes away (e.g. `ip link del`).
		select {
		case <-t.dev.Wait():
		case <-t.uapi.Lost():
		}
		t.Close()
	}()
	log.Info("interface up", "mode", string(t.mode), "peers", len(cfg.Peers))
	return t, nil
}

// openDevice creates the TUN (or netstack) and the wireguard-go device on it.
func (t *Tunnel) openDevice() error {
	mode := t.opts.mode
	if t.opts.userspace.tunFile != nil {
		mode = ModeTUN
	}
	var err error
	switch mode {
	case ModeTUN:
		t.tdev, err = t.openTUN()
	case ModeAuto:
		t.tdev, err = t.openTUN()
		if err == nil {
			mode = ModeTUN
			break
		}
		t.log.Info("kernel TUN unavailable, using netstack", "reason", err.Error())
		mode = ModeNetstack
		fallthrough
	case ModeNetstack:
		forwarding := len(t.cfg.Peers) > 1
		if t.opts.forwarding != nil {
			forwarding = *t.opts.forwarding
		}
		if t.ns, err = createNetstack(t.cfg, forwarding, t.log); err == nil {
			t.tdev = t.ns
		}
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return err
	}
	t.mode = mode
	newBind := udpbind.New
	if t.opts.newBind != nil {
		newBind = t.opts.newBind
	}
	t.bind = newBind()
	t.dev = device.NewDevice(t.tdev, t.bind, wgLogger(t.log))
	return nil
}

// listenPort is the UDP port the device listens on: asked of the bind
// when it can tell, else read from the device's state (which lists every
// peer: costly on a hub).
func (t *Tunnel) listenPort() (uint16, error) {
	if b, ok := t.bind.(interface{ LocalPort() uint16 }); ok {
		return b.LocalPort(), nil
	}
	st, err := t.Status()
	if err != nil {
		return 0, err
	}
	return st.ListenPort, nil
}

// configureHost sets the TUN up on the host; endpoints are the peers'
// endpoints as resolved for the device.
func (t *Tunnel) configureHost(ctx context.Context, endpoints []netip.AddrPort) error {
	name, err := t.tdev.Name()
	if err != nil {
		return fmt.Errorf("reading TUN name: %w", err)
	}
	// One route lookup per address, however many peers share it.
	var addrs []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, ep := range endpoints {
		if !seen[ep.Addr()] {
			seen[ep.Addr()] = true
			addrs = append(addrs, ep.Addr())
		}
	}
	t.host, err = hostcfg.Configure(ctx, t.log, hostcfg.Params{
		Interface:     name,
		Config:        t.cfg,
		EndpointAddrs: addrs,
		KillSwitch:    t.opts.runDir != "",
		Previous:      t.prev,
		SetFwMark: func(mark uint32) error {
			return t.dev.IpcSet(fmt.Sprintf("fwmark=%d\n", mark))
		},
	})
	return err
}

// Name is the interface name.
func (t *Tunnel) Name() string { return t.config().Name }

// Config is the configuration the tunnel runs: the one given to Up, or to
// the last successful Reload. Treat it as read-only; to change the tunnel,
// pass a changed copy to Reload.
func (t *Tunnel) Config() *config.Config { return t.config() }

// config is the configuration the tunnel runs, which Reload replaces.
func (t *Tunnel) config() *config.Config {
	t.cfgMu.RLock()
	defer t.cfgMu.RUnlock()
	return t.cfg
}

// Mode is the backend the tunnel runs on (never ModeAuto).
func (t *Tunnel) Mode() Mode { return t.mode }

// Done is closed when the tunnel has stopped, by Close or because its device
// went away.
func (t *Tunnel) Done() <-chan struct{} { return t.done }

// Status reports the device's live state, as `wg show` would.
func (t *Tunnel) Status() (*uapi.Status, error) {
	select {
	case <-t.done:
		return nil, ErrClosed
	default:
	}
	text, err := t.dev.IpcGet()
	if err != nil {
		return nil, fmt.Errorf("reading device state: %w", err)
	}
	st, err := uapi.ParseStatus(bufio.NewReader(strings.NewReader(text + "errno=0\n\n")))
	if err != nil {
		return nil, err
	}
	st.Name = t.Name()
	return st, nil
}

// Down is the orderly shutdown wg-quick does: PreDown hooks, SaveConfig,
// Close, PostDown hooks. Hook failures are reported but do not stop it.
// Hooks are not run here once the control socket was told that the caller
// runs them (`wgu down` does, to show their output and status).
func (t *Tunnel) Down(ctx context.Context) error {
	cfg := t.config()
	hooks := !t.hooksByCaller.Load()
	var errs []error
	if hooks {
		errs = append(errs, t.runHooks(ctx, "PreDown", cfg.Interface.PreDown))
	}
	if cfg.Interface.SaveConfig && t.opts.configPath != "" {
		errs = append(errs, t.saveConfig())
	}
	errs = append(errs, t.Close())
	if hooks {
		errs = append(errs, t.runHooks(ctx, "PostDown", cfg.Interface.PostDown))
	}
	return errors.Join(errs...)
}

// Close stops the device and undoes every change Up made on the host,
// without running hooks. A Reload in progress finishes first; none starts
// after. It is safe to call more than once.
func (t *Tunnel) Close() error {
	t.closeOnce.Do(func() {
		// The refresher takes mu: stop it before waiting for mu.
		t.stopDDNS()
		t.mu.Lock()
		t.closing = true
		t.mu.Unlock()
		t.closeErr = t.teardown()
		close(t.done)
		t.closeHTTP()
	})
	return t.closeErr
}

// teardown undoes Up in reverse order; it copes with a partial Up.
func (t *Tunnel) teardown() error {
	var errs []error
	t.closeUnused()
	t.stopDDNS()
	if t.stopPathMTU != nil {
		t.stopPathMTU() // before the link it would change goes
	}
	if t.uapi != nil {
		t.uapi.Close()
	}
	if t.ctl != nil {
		t.ctl.Close()
	}
	t.svcs.close()
	if t.host != nil {
		errs = append(errs, t.host.Undo(context.Background(), t.log))
	}
	if t.prev != nil {
		errs = append(errs, t.prev.Undo(context.Background(), t.log))
	}
	if t.dev != nil {
		t.dev.Close() // closes the TUN too
	} else if t.tdev != nil {
		errs = append(errs, t.tdev.Close())
	}
	if t.opts.runDir != "" {
		removeState(t.opts.runDir, t.Name())
	}
	return errors.Join(errs...)
}

// saveConfig writes the live device state back to the config file, keeping
// the wg-quick keys of the running config, as `wg-quick save` does.
func (t *Tunnel) saveConfig() error {
	st, err := t.Status()
	if err != nil {
		return fmt.Errorf("SaveConfig: %w", err)
	}
	saved := *t.config()
	if st.PrivateKey != saved.Interface.PrivateKey {
		// Changed live (wg set private-key): the file no longer holds it.
		saved.Interface.PrivateKeyFile = ""
	}
	saved.Interface.PrivateKey = st.PrivateKey
	saved.Interface.ListenPort = st.ListenPort
	saved.Interface.FwMark = st.FwMark
	saved.Peers = saved.Peers[:0:0]
	for _, p := range st.Peers {
		saved.Peers = append(saved.Peers, p.Peer)
	}
	text, err := saved.MarshalText()
	if err != nil {
		return fmt.Errorf("SaveConfig: %w", err)
	}
	if err := config.WriteFileSynced(t.opts.configPath, text, 0o600, (*os.File).Sync); err != nil {
		return fmt.Errorf("SaveConfig: %w", err)
	}
	t.log.Info("configuration saved", "file", t.opts.configPath)
	return nil
}

// wgLogger adapts wireguard-go's printf logger to slog: its verbose lines go
// to Debug, its errors to Error.
func wgLogger(l *slog.Logger) *device.Logger {
	ctx := context.Background()
	return &device.Logger{
		Verbosef: func(format string, args ...any) {
			if l.Enabled(ctx, slog.LevelDebug) {
				l.Debug(fmt.Sprintf(format, args...))
			}
		},
		Errorf: func(format string, args ...any) {
			l.Error(fmt.Sprintf(format, args...))
		},
	}
}
