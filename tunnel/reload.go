package tunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/wgu-project/wgu/internal/hostcfg"
	"github.com/wgu-project/wgu/tunnel/config"
)

// ErrRestartNeeded is returned by Reload for a change it cannot make to a
// running tunnel; take the interface down and up again to apply it.
var ErrRestartNeeded = errors.New("restart needed (take the interface down and up again to apply it)")

// ErrNoLoader is returned by ReloadConfig on a tunnel brought up without
// WithConfigLoader.
var ErrNoLoader = errors.New("tunnel has no config source to reload from")

// ReloadConfig re-reads the config with the loader given to WithConfigLoader
// and applies it with Reload.
func (t *Tunnel) ReloadConfig(ctx context.Context) error {
	_, err := t.reloadConfig(ctx)
	return err
}

// reloadConfig is ReloadConfig, also returning the new config's warnings
// (which it logs).
func (t *Tunnel) reloadConfig(ctx context.Context) ([]config.Warning, error) {
	if t.opts.loader == nil {
		return nil, ErrNoLoader
	}
	cfg, err := t.opts.loader()
	if err != nil {
		return nil, fmt.Errorf("reloading: %w", err)
	}
	warnings := cfg.Warnings()
	for _, w := range warnings {
		t.log.Warn(w.String())
	}
	return warnings, t.Reload(ctx, cfg)
}

// Reload applies cfg to the running tunnel, changing only what differs from
// the config it runs: the private key, listen port and fwmark when they
// changed; peers that are gone are removed and new ones added; a peer whose
// settings changed is updated in place (its session and the connections
// through it go on), and unchanged peers are not touched. Peers added at
// run time (wg set) that cfg does not list are removed, as `wg syncconf`
// does. In TUN mode, addresses and the AllowedIPs routes follow.
//
// Changes Reload cannot make live (netstack addresses, MTU, services,
// Table, default routes, hooks) fail with ErrRestartNeeded before anything
// is changed. Hooks are not run. Close waits for a Reload in progress; once
// Close has begun, Reload fails with ErrClosed.
func (t *Tunnel) Reload(ctx context.Context, cfg *config.Config) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return ErrClosed
	}
	old := t.cfg
	if cfg.Name == "" {
		c := *cfg
		c.Name = old.Name
		cfg = &c
	}
	if cfg.Name != old.Name {
		return fmt.Errorf("reloading %s: the config is for interface %s", old.Name, cfg.Name)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("reloading %s: %w", old.Name, err)
	}
	if err := t.checkLiveChanges(old, cfg); err != nil {
		return fmt.Errorf("reloading %s: %w", old.Name, err)
	}
	// Cleared now, so that a change made while this Reload runs is seen by
	// the next; set again unless this one brings the device to cfg.
	touched := t.peersTouched.Swap(false)
	synced := false
	defer func() {
		if touched && !synced {
			t.peersTouched.Store(true)
		}
	}()
	live, err := t.livePeerKeys(old, touched)
	if err != nil {
		return fmt.Errorf("reloading %s: %w", old.Name, err)
	}
	body, summary, err := reloadUAPI(ctx, t.opts.resolver, old, cfg, live)
	if err != nil {
		return fmt.Errorf("reloading %s: %w", old.Name, err)
	}
	if body != "" {
		if err := t.dev.IpcSet(body); err != nil {
			// Some of it may have been applied.
			t.peersTouched.Store(true)
			return fmt.Errorf("reloading %s: configuring device: %w", old.Name, err)
		}
	}
	synced = true
	t.cfgMu.Lock()
	t.cfg = cfg
	t.cfgMu.Unlock()
	// A reload that changed no address and no AllowedIPs (a keepalive, an
	// endpoint) has nothing to change on the host, nor in the state file,
	// which lists a routed hub's thousands of routes.
	if t.host != nil && (t.hostBehind || !slices.Equal(old.Interface.Addresses, cfg.Interface.Addresses) || !sameAllowedIPs(old, cfg)) {
		if err := t.reloadHost(ctx, old, cfg); err != nil {
			t.hostBehind = true
			return fmt.Errorf("reloading %s: %w", old.Name, err)
		}
		t.hostBehind = false
	}
	t.startDDNS()
	t.log.Info("configuration reloaded", "changes", summary)
	return nil
}

// sameAllowedIPs reports whether old and cfg give their peers the same
// AllowedIPs in the same order, and so want the same routes.
func sameAllowedIPs(old, cfg *config.Config) bool {
	if len(old.Peers) != len(cfg.Peers) {
		return false
	}
	for i := range old.Peers {
		if !slices.Equal(old.Peers[i].AllowedIPs, cfg.Peers[i].AllowedIPs) {
			return false
		}
	}
	return true
}

// checkLiveChanges refuses what cannot change on a running tunnel.
func (t *Tunnel) checkLiveChanges(old, cfg *config.Config) error {
	restart := func(what string) error {
		return fmt.Errorf("%s changed: %w", what, ErrRestartNeeded)
	}
	if cfg.Interface.PrivateKey.IsZero() {
		return fmt.Errorf("%w: no PrivateKey", config.ErrInvalidConfig)
	}
	if cfg.Interface.MTU != old.Interface.MTU {
		return restart("MTU")
	}
	if hooks := changedHooks(old.Interface, cfg.Interface); hooks != "" {
		// They ran (or will run) as written at up; a restart runs the new ones.
		return restart(hooks)
	}
	if !servicesEqual(old.Services, cfg.Services) {
		return restart("services")
	}
	if t.mode != ModeTUN {
		if !slices.Equal(old.Interface.Addresses, cfg.Interface.Addresses) {
			return restart("Address (netstack mode)")
		}
		return nil
	}
	if cfg.Interface.Table != old.Interface.Table {
		return restart("Table")
	}
	if !slices.Equal(cfg.Interface.DNS, old.Interface.DNS) || !slices.Equal(cfg.Interface.DNSSearch, old.Interface.DNSSearch) {
		return restart("DNS")
	}
	if !slices.Equal(defaultPrefixes(old), defaultPrefixes(cfg)) {
		return restart("a default route (0.0.0.0/0 or ::/0) in AllowedIPs")
	}
	if t.host != nil && t.host.FwMark != 0 && cfg.Interface.FwMark != old.Interface.FwMark {
		return restart("FwMark (policy routing uses it)")
	}
	return nil
}

// changedHooks names the hook keys whose commands differ, e.g. "PostUp,
// PostDown"; "" if none.
func changedHooks(old, cfg config.Interface) string {
	var keys []string
	for _, h := range []struct {
		key      string
		old, cfg []string
	}{
		{"PreUp", old.PreUp, cfg.PreUp}, {"PostUp", old.PostUp, cfg.PostUp},
		{"PreDown", old.PreDown, cfg.PreDown}, {"PostDown", old.PostDown, cfg.PostDown},
	} {
		if !slices.Equal(h.old, h.cfg) {
			keys = append(keys, h.key)
		}
	}
	return strings.Join(keys, ", ")
}

func servicesEqual(a, b []config.Section) bool {
	return slices.EqualFunc(a, b, func(x, y config.Section) bool {
		return strings.EqualFold(x.Name, y.Name) && slices.EqualFunc(x.Options, y.Options, func(p, q config.Option) bool {
			return strings.EqualFold(p.Key, q.Key) && p.Value == q.Value
		})
	})
}

// defaultPrefixes are the /0 AllowedIPs of cfg, sorted, without
// duplicates (found without sorting all of a hub's AllowedIPs).
func defaultPrefixes(cfg *config.Config) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range cfg.Peers {
		for _, a := range p.AllowedIPs {
			if a.Bits() == 0 {
				out = append(out, a.Masked())
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return slices.Compact(out)
}

// livePeerKeys lists the peers the device has now, running old. Unless
// touched (peersTouched) says something else changed them, they are old's
// peers, and the device is not asked: its listing costs about 5 µs a peer,
// half of a reload's time at 10,000 peers. When it is asked, only the
// public_key lines of its state are read.
func (t *Tunnel) livePeerKeys(old *config.Config, touched bool) ([]config.Key, error) {
	select {
	case <-t.done:
		return nil, ErrClosed
	default:
	}
	if !touched {
		keys := make([]config.Key, len(old.Peers))
		for i, p := range old.Peers {
			keys[i] = p.PublicKey
		}
		return keys, nil
	}
	var buf bytes.Buffer
	if err := t.dev.IpcGetOperation(&buf); err != nil {
		return nil, fmt.Errorf("reading device state: %w", err)
	}
	var keys []config.Key
	for line := range bytes.Lines(buf.Bytes()) {
		hexKey, ok := bytes.CutPrefix(bytes.TrimSuffix(line, []byte("\n")), []byte("public_key="))
		if !ok {
			continue
		}
		k, err := config.ParseHexKey(string(hexKey))
		if err != nil {
			return nil, fmt.Errorf("reading device state: peer public_key %q: %w", hexKey, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// reloadUAPI is the UAPI set body that turns a device running old (with the
// peers live) into one running cfg, and a short summary of the changes.
func reloadUAPI(ctx context.Context, r config.Resolver, old, cfg *config.Config, live []config.Key) (body, summary string, err error) {
	var b strings.Builder
	var changes []string
	line := func(key, value string) {
		b.WriteString(key + "=" + value + "\n")
	}
	if cfg.Interface.PrivateKey != old.Interface.PrivateKey {
		line("private_key", cfg.Interface.PrivateKey.Reveal().Hex())
		changes = append(changes, "private key")
	}
	if cfg.Interface.ListenPort != old.Interface.ListenPort {
		line("listen_port", strconv.FormatUint(uint64(cfg.Interface.ListenPort), 10))
		changes = append(changes, "listen port")
	}
	if cfg.Interface.FwMark != old.Interface.FwMark {
		line("fwmark", strconv.FormatUint(uint64(cfg.Interface.FwMark), 10))
		changes = append(changes, "fwmark")
	}
	m := matchPeers(old.Peers, cfg.Peers, live)
	for _, k := range m.removed {
		line("public_key", k.Hex())
		line("remove", "true")
	}
	added, updated := 0, 0
	for i, p := range cfg.Peers {
		j, inOld := m.prev(i)
		if j < 0 {
			// New (or added at run time and now in the file, or in old but
			// removed at run time): set it whole.
			var pb strings.Builder
			if _, err := config.WritePeerUAPI(ctx, r, &pb, p); err != nil {
				return "", "", err
			}
			if p.PresharedKey.IsZero() {
				pb.WriteString("preshared_key=" + config.Key{}.Hex() + "\n")
			}
			b.WriteString(pb.String())
			if inOld {
				updated++
			} else {
				added++
			}
			continue
		}
		diff, err := peerUpdateUAPI(ctx, r, old.Peers[j], p)
		if err != nil {
			return "", "", err
		}
		if diff != "" {
			b.WriteString(diff)
			updated++
		}
	}
	removed := len(m.removed)
	for _, c := range []struct {
		n    int
		what string
	}{{added, "added"}, {removed, "removed"}, {updated, "updated"}} {
		if c.n > 0 {
			changes = append(changes, fmt.Sprintf("%d peer(s) %s", c.n, c.what))
		}
	}
	if !slices.Equal(old.Interface.Addresses, cfg.Interface.Addresses) {
		changes = append(changes, "addresses")
	}
	if len(changes) == 0 {
		return b.String(), "none", nil
	}
	return b.String(), strings.Join(changes, ", "), nil
}

// peerMatch pairs the peers of a new config with those of the old one,
// and lists the device's peers the new config lacks.
type peerMatch struct {
	old, next []config.Peer
	// The new config's first lo peers are old's first lo, and its peers
	// from newHi on are old's from oldHi on: an edited file keeps its
	// peers in order, so most are paired by position, without a map.
	lo, oldHi, newHi int
	// mid finds the others among old's peers the device has.
	mid map[config.Key]int
	// notLive is old's peers the device lacks (removed at run time).
	notLive map[config.Key]bool
	// removed is the device's peers the new config lacks, in the device's
	// order.
	removed []config.Key
}

// matchPeers pairs next's peers with old's, given the peers the device
// has (live).
func matchPeers(old, next []config.Peer, live []config.Key) *peerMatch {
	m := &peerMatch{old: old, next: next, oldHi: len(old), newHi: len(next)}
	liveIsOld := len(live) == len(old)
	for i := 0; liveIsOld && i < len(old); i++ {
		liveIsOld = live[i] == old[i].PublicKey
	}
	if !liveIsOld {
		// Changed at run time (rare): every peer through the maps.
		isLive := make(map[config.Key]bool, len(live))
		for _, k := range live {
			isLive[k] = true
		}
		m.mid = make(map[config.Key]int, len(old))
		m.notLive = map[config.Key]bool{}
		for i, p := range old {
			if isLive[p.PublicKey] {
				m.mid[p.PublicKey] = i
			} else {
				m.notLive[p.PublicKey] = true
			}
		}
		want := make(map[config.Key]bool, len(next))
		for _, p := range next {
			want[p.PublicKey] = true
		}
		for _, k := range live {
			if !want[k] {
				m.removed = append(m.removed, k)
			}
		}
		return m
	}
	for m.lo < len(old) && m.lo < len(next) && old[m.lo].PublicKey == next[m.lo].PublicKey {
		m.lo++
	}
	for m.oldHi > m.lo && m.newHi > m.lo && old[m.oldHi-1].PublicKey == next[m.newHi-1].PublicKey {
		m.oldHi--
		m.newHi--
	}
	m.mid = make(map[config.Key]int, m.oldHi-m.lo)
	for i := m.lo; i < m.oldHi; i++ {
		m.mid[old[i].PublicKey] = i
	}
	want := make(map[config.Key]bool, m.newHi-m.lo)
	for _, p := range next[m.lo:m.newHi] {
		want[p.PublicKey] = true
	}
	for _, p := range old[m.lo:m.oldHi] {
		if !want[p.PublicKey] {
			m.removed = append(m.removed, p.PublicKey)
		}
	}
	return m
}

// prev is the index in old of the settings the device has for the new
// config's peer i, -1 if it has none; inOld says whether old has the peer.
func (m *peerMatch) prev(i int) (j int, inOld bool) {
	if i < m.lo {
		return i, true
	}
	if i >= m.newHi {
		return i - m.newHi + m.oldHi, true
	}
	key := m.next[i].PublicKey
	if j, ok := m.mid[key]; ok {
		return j, true
	}
	return -1, m.notLive[key]
}

// peerUpdateUAPI updates peer prev to p in place, setting only the fields
// that changed; "" when nothing did.
func peerUpdateUAPI(ctx context.Context, r config.Resolver, prev, p config.Peer) (string, error) {
	var b strings.Builder
	line := func(key, value string) {
		b.WriteString(key + "=" + value + "\n")
	}
	if p.PresharedKey != prev.PresharedKey {
		line("preshared_key", p.PresharedKey.Reveal().Hex())
	}
	// An endpoint is set only when the config's changed: a peer that roamed
	// keeps the address it roamed to. (A removed Endpoint cannot be unset.)
	if p.Endpoint != prev.Endpoint && !p.Endpoint.IsZero() {
		ap, err := config.ResolveEndpoint(ctx, r, p.Endpoint)
		if err != nil {
			return "", fmt.Errorf("peer %s: endpoint %s: %w", p.PublicKey, p.Endpoint, err)
		}
		line("endpoint", ap.String())
	}
	if p.PersistentKeepalive != prev.PersistentKeepalive {
		line("persistent_keepalive_interval", strconv.FormatUint(uint64(p.PersistentKeepalive), 10))
	}
	if !slices.Equal(p.AllowedIPs, prev.AllowedIPs) {
		line("replace_allowed_ips", "true")
		for _, pfx := range p.AllowedIPs {
			line("allowed_ip", pfx.String())
		}
	}
	if b.Len() == 0 {
		return "", nil
	}
	return "public_key=" + p.PublicKey.Hex() + "\nupdate_only=true\n" + b.String(), nil
}

// reloadHost brings the TUN's addresses and routes from old to cfg and
// records the result in the state file.
func (t *Tunnel) reloadHost(ctx context.Context, old, cfg *config.Config) error {
	name, err := t.tdev.Name()
	if err != nil {
		return fmt.Errorf("reading TUN name: %w", err)
	}
	herr := t.host.Reconfigure(ctx, t.log, hostcfg.Params{Interface: name, Config: cfg})
	if t.opts.runDir != "" {
		if err := t.writeState(); err != nil {
			return errors.Join(herr, err)
		}
	}
	return herr
}
