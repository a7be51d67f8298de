// Package tunnel brings up WireGuard interfaces from wg-quick configs, on a
// kernel TUN or, with no privileges, on wgu's userspace network stack, and
// lets Go programs use them.
//
// A config comes from a wg-quick file (config.LoadConfig, config.ParseConfig)
// or is built in code (config.Config, config.Interface, config.Peer). Up
// starts the interface:
//
//	cfg, err := config.LoadConfig("wg0.conf")
//	...
//	t, err := tunnel.Up(ctx, cfg, tunnel.WithMode(tunnel.ModeNetstack), tunnel.WithLogger(logger))
//	...
//	defer t.Close()
//
// In netstack mode the tunnel is a small network of its own: DialContext,
// Listen and ListenPacket open connections on the tunnel's addresses,
// HTTPClient is a client that dials through it (one per tunnel, reusing its
// connections), Ping sends ICMP echo requests, and Services lists the
// config's service sections (SOCKS5, HTTP proxy, forwards) with the addresses
// they bound. In TUN mode the host's own sockets reach the tunnel, as with
// wg-quick. Netstack mode builds and runs on every system wireguard-go runs
// on; TUN mode's host configuration and the UAPI socket directory
// (WithUAPISocket) are Linux-only and fail elsewhere with
// errors.ErrUnsupported.
//
// Status reports what `wg show` reports; SetPeer and RemovePeer change one
// peer without disturbing the others; Reload applies a changed config,
// touching only what changed. Close stops the tunnel and every goroutine it
// started; it is safe to call while traffic flows. Several tunnels may run in
// one process: the package keeps no global state.
//
// Private and preshared keys are config.SecretKeys: fmt, log/slog and
// encoding/json show them as "(redacted)", so logging a Config or a Status,
// or an error about one, never leaks a key.
//
// Errors that callers branch on are sentinels for errors.Is:
// config.ErrInvalidConfig (with *config.ParseError for file, line and key; Up
// checks a Config built in code the same way), ErrExists, ErrClosed (Status,
// SetPeer, Reload, the dial, listen and ping methods of a closed tunnel),
// ErrNoPeer, ErrNotNetstack, ErrPingUnsupported, ErrRestartNeeded (Reload).
// Up with an already-cancelled context returns ctx.Err().
package tunnel
