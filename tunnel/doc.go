// Package tunnel brings up WireGuard interfaces from wg-quick configs, on a
// kernel TUN or, with no privileges, on wgu's userspace network stack, and
// lets Go programs use them.
//
// A config comes from a wg-quick file (LoadConfig, ParseConfig) or is built
// in code (Config, Interface, Peer). Up starts the interface:
//
//	cfg, err := tunnel.LoadConfig("wg0.conf")
//	...
//	t, err := tunnel.Up(ctx, cfg, tunnel.WithMode(tunnel.ModeNetstack), tunnel.WithLogger(logger))
//	...
//	defer t.Close()
//
// In netstack mode the tunnel is a small network of its own: DialContext,
// Listen and ListenPacket open connections on the tunnel's addresses,
// HTTPClient dials through it, and Ping sends ICMP echo requests. In TUN
// mode the host's own sockets reach the tunnel, as with wg-quick.
//
// Status reports what `wg show` reports; SetPeer and RemovePeer change one
// peer without disturbing the others. Close stops the tunnel and every
// goroutine it started; it is safe to call while traffic flows. Several
// tunnels may run in one process: the package keeps no global state.
//
// Private and preshared keys are SecretKeys (Interface.PrivateKey,
// Peer.PresharedKey, Status.PrivateKey, GeneratePrivateKey): fmt, log/slog
// and encoding/json show them as "(redacted)", so logging a Config or a
// Status, or an error about one, never leaks a key. Reveal returns the Key
// itself for the code that must write it; Key.Secret wraps one.
//
// Errors that callers branch on are sentinels for errors.Is:
// ErrInvalidConfig (with *ParseError for file, line and key; Up checks a
// Config built in code the same way), ErrExists, ErrClosed (Status,
// SetPeer, Reload, the dial, listen and ping methods of a closed tunnel),
// ErrNoPeer, ErrNotNetstack, ErrPingUnsupported, ErrNoInterface,
// ErrRestartNeeded (Reload), ErrNoShell (hooks). Up with an
// already-cancelled context returns ctx.Err().
//
// Config.Warnings lists what a config gets wrong without being invalid
// (the same AllowedIPs on two peers, a peer nobody can handshake with).
// HookRunner runs PreUp/PostUp/PreDown/PostDown as wg-quick does; in
// netstack mode it skips the hooks HostNetworkOnly recognises.
package tunnel
