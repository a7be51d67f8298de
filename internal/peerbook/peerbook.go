package peerbook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/wgu-project/wgu/tunnel/config"
)

// PeerBook manages the peers of a hub whose config file is the source of
// truth: every change is written to the file first (atomically, keeping its
// comments and layout) and then applied to the running tunnel by Apply. If
// Apply fails, the file is put back as it was. The CLI's `wgu peer` commands
// and the management page both use it; an embedding program can too, with
// Apply set to its Tunnel's ReloadConfig.
type PeerBook struct {
	// Path is the hub's config file.
	Path string
	// Apply makes the running tunnel follow the file (a reload, which adds,
	// removes or updates only the peers that changed). Nil: file only.
	Apply func(ctx context.Context) error

	mu sync.Mutex // one change at a time within this process
}

// ErrClientKeyNotKept is returned by ClientConfig for a peer added without
// KeepClientKey: the hub never needs the client's private key, so by
// default it is printed once and forgotten.
var ErrClientKeyNotKept = errors.New("the client's private key was not kept (add the peer with --keep-client-key to be able to show its config again); remove the peer and add it again to make a new config")

// NewPeer describes a client to add with PeerBook.Add.
type NewPeer struct {
	Name string
	// Address is the client's tunnel address (one per family); empty picks
	// the next free address in the hub's subnet.
	Address []netip.Prefix
	// AllowedIPs is what the client sends through the tunnel; empty means
	// the hub's subnets.
	AllowedIPs []netip.Prefix
	DNS        []netip.Addr
	// Keepalive is the client's PersistentKeepalive in seconds (0: off).
	Keepalive uint16
	// Endpoint is the hub's public host:port (or host: ListenPort is added);
	// empty takes `# Endpoint = …` from the hub's [Interface].
	Endpoint string
	// PresharedKey adds a random preshared key.
	PresharedKey bool
	// KeepClientKey stores the client's private key (as a comment in the
	// peer's block) so that ClientConfig can show the config again.
	KeepClientKey bool
}

// AddedPeer is what Add made.
type AddedPeer struct {
	Name      string
	PublicKey config.Key
	Address   []netip.Prefix
	// ClientConfig is the client's wg-quick config. It holds the client's
	// private key: show it to the user, never log it.
	ClientConfig []byte
}

// PeerEntry is one peer of the config file, enabled or not.
type PeerEntry struct {
	Name          string // "" when the block has no `# Name =`
	PublicKey     config.Key
	AllowedIPs    []netip.Prefix
	Disabled      bool
	ClientKeyKept bool
}

var peerNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$`)

// CheckPeerName says whether name can name a peer: 1 to 63 letters, digits,
// '_', '.', '@' or '-', starting with a letter or digit.
func CheckPeerName(name string) error {
	if !peerNameRE.MatchString(name) {
		return fmt.Errorf("peer name %q: %w: expected 1 to 63 letters, digits, '_', '.', '@' or '-', starting with a letter or digit", name, config.ErrInvalidConfig)
	}
	return nil
}

// Entries lists the file's peers in file order.
func (b *PeerBook) Entries() ([]PeerEntry, error) {
	f, _, err := b.read()
	if err != nil {
		return nil, err
	}
	out := make([]PeerEntry, 0, len(f.blocks))
	for _, bl := range f.blocks {
		_, kept := bl.comments["clientprivatekey"]
		out = append(out, PeerEntry{Name: bl.name, PublicKey: bl.publicKey, AllowedIPs: bl.allowedIPs, Disabled: bl.disabled, ClientKeyKept: kept})
	}
	return out, nil
}

// Add creates a client: its keys, an address, a [Peer] block in the hub's
// file and the client's config.
func (b *PeerBook) Add(ctx context.Context, np NewPeer) (*AddedPeer, error) {
	if err := CheckPeerName(np.Name); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return withFileLock(b.Path, func() (*AddedPeer, error) {
		f, hub, err := b.read()
		if err != nil {
			return nil, err
		}
		for _, bl := range f.blocks {
			if bl.name == np.Name {
				return nil, fmt.Errorf("%s: a peer named %q exists already", b.Path, np.Name)
			}
		}
		var taken []netip.Prefix
		for _, bl := range f.blocks {
			taken = append(taken, bl.allowedIPs...)
		}
		if len(np.Address) == 0 {
			if np.Address, err = nextFreeAddresses(hub.Interface.Addresses, taken); err != nil {
				return nil, fmt.Errorf("%s: %w", b.Path, err)
			}
		} else {
			for i, a := range np.Address {
				np.Address[i] = netip.PrefixFrom(a.Addr(), a.Addr().BitLen())
			}
			if err := checkAddressFree(np.Address, hub.Interface.Addresses, f.blocks); err != nil {
				return nil, fmt.Errorf("%s: %w", b.Path, err)
			}
		}
		endpoint, err := hubEndpoint(np.Endpoint, f, hub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Path, err)
		}
		np.Endpoint = endpoint
		if len(np.AllowedIPs) == 0 {
			for _, a := range hub.Interface.Addresses {
				np.AllowedIPs = append(np.AllowedIPs, a.Masked())
			}
		}
		secret, err := config.GeneratePrivateKey()
		if err != nil {
			return nil, err
		}
		priv := secret.Reveal() // written into the client's config below
		var psk config.Key
		if np.PresharedKey {
			s, err := config.GeneratePresharedKey()
			if err != nil {
				return nil, err
			}
			psk = s.Reveal()
		}
		cc := clientConfig{priv: priv, address: np.Address, dns: np.DNS, hub: hub.Interface.PrivateKey.PublicKey(), psk: psk, allowed: np.AllowedIPs, endpoint: np.Endpoint, keepalive: np.Keepalive}
		lines := []string{"[Peer]", "# Name = " + np.Name}
		if np.KeepClientKey {
			lines = append(lines, cc.comments()...)
		}
		lines = append(lines, "PublicKey = "+priv.PublicKey().String())
		if !psk.IsZero() {
			lines = append(lines, "PresharedKey = "+psk.String())
		}
		lines = append(lines, "AllowedIPs = "+config.JoinPrefixes(np.Address))
		f.appendBlock(lines)
		if err := b.commit(ctx, f); err != nil {
			return nil, err
		}
		return &AddedPeer{Name: np.Name, PublicKey: priv.PublicKey(), Address: np.Address, ClientConfig: cc.marshal()}, nil
	})
}

// AddPublicKey adds a peer whose keys the client made itself (`wgu addpeer`,
// the tutorial's `wg addpeer wg0 KEY --allowed-ips …`). name may be empty.
func (b *PeerBook) AddPublicKey(ctx context.Context, name string, pub config.Key, allowed []netip.Prefix) error {
	if name != "" {
		if err := CheckPeerName(name); err != nil {
			return err
		}
	}
	if len(allowed) == 0 {
		return fmt.Errorf("peer %s: %w: no allowed IPs (expected --allowed-ips CIDR[,CIDR])", pub, config.ErrInvalidConfig)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := withFileLock(b.Path, func() (struct{}, error) {
		f, hub, err := b.read()
		if err != nil {
			return struct{}{}, err
		}
		if pub == hub.Interface.PrivateKey.PublicKey() {
			return struct{}{}, fmt.Errorf("%s: %s is the hub's own public key", b.Path, pub)
		}
		for _, bl := range f.blocks {
			if bl.publicKey == pub {
				return struct{}{}, fmt.Errorf("%s: %s is a peer already (%s)", b.Path, pub, bl.label())
			}
			if name != "" && bl.name == name {
				return struct{}{}, fmt.Errorf("%s: a peer named %q exists already", b.Path, name)
			}
		}
		lines := []string{"[Peer]"}
		if name != "" {
			lines = append(lines, "# Name = "+name)
		}
		lines = append(lines, "PublicKey = "+pub.String(), "AllowedIPs = "+config.JoinPrefixes(allowed))
		f.appendBlock(lines)
		return struct{}{}, b.commit(ctx, f)
	})
	return err
}

// Remove deletes the peer named ref (a name or a public key) from the file
// and the running tunnel.
func (b *PeerBook) Remove(ctx context.Context, ref string) (PeerEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return withFileLock(b.Path, func() (PeerEntry, error) {
		f, _, err := b.read()
		if err != nil {
			return PeerEntry{}, err
		}
		i, err := f.find(ref)
		if err != nil {
			return PeerEntry{}, fmt.Errorf("%s: %w", b.Path, err)
		}
		bl := f.blocks[i]
		f.removeBlock(i)
		return PeerEntry{Name: bl.name, PublicKey: bl.publicKey, AllowedIPs: bl.allowedIPs, Disabled: bl.disabled}, b.commit(ctx, f)
	})
}

// SetEnabled enables or disables the peer ref. A disabled peer's block is
// commented out in the file (every line starts with "# disabled: ") and the
// peer is removed from the running tunnel; enabling restores the block.
func (b *PeerBook) SetEnabled(ctx context.Context, ref string, enabled bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := withFileLock(b.Path, func() (struct{}, error) {
		f, _, err := b.read()
		if err != nil {
			return struct{}{}, err
		}
		i, err := f.find(ref)
		if err != nil {
			return struct{}{}, fmt.Errorf("%s: %w", b.Path, err)
		}
		if f.blocks[i].disabled == !enabled {
			return struct{}{}, nil
		}
		f.setDisabled(i, !enabled)
		return struct{}{}, b.commit(ctx, f)
	})
	return err
}

// ClientConfig re-makes the client config of peer ref, byte for byte as Add
// printed it, when its private key was kept; otherwise ErrClientKeyNotKept.
func (b *PeerBook) ClientConfig(ref string) ([]byte, error) {
	f, hub, err := b.read()
	if err != nil {
		return nil, err
	}
	i, err := f.find(ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Path, err)
	}
	bl := f.blocks[i]
	c := bl.comments
	privText, ok := c["clientprivatekey"]
	if !ok {
		return nil, fmt.Errorf("peer %s: %w", bl.label(), ErrClientKeyNotKept)
	}
	bad := func(key string, err error) ([]byte, error) {
		return nil, fmt.Errorf("%s: peer %s: # %s: %w", b.Path, bl.label(), key, err)
	}
	cc := clientConfig{hub: hub.Interface.PrivateKey.PublicKey(), psk: bl.presharedK, endpoint: c["clientendpoint"]}
	if cc.priv, err = config.ParseKey(privText); err != nil {
		return bad("ClientPrivateKey", err)
	}
	if cc.priv.PublicKey() != bl.publicKey {
		return bad("ClientPrivateKey", errors.New("does not belong to the block's PublicKey"))
	}
	for _, p := range bl.allowedIPs {
		if p.IsSingleIP() {
			cc.address = append(cc.address, p)
		}
	}
	if cc.allowed, err = config.ParsePrefixes(c["clientallowedips"]); err != nil {
		return bad("ClientAllowedIPs", err)
	}
	for _, s := range config.SplitList(c["clientdns"]) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return bad("ClientDNS", err)
		}
		cc.dns = append(cc.dns, a)
	}
	if v := c["clientkeepalive"]; v != "" {
		if cc.keepalive, err = config.ParseKeepalive(v); err != nil {
			return bad("ClientKeepalive", err)
		}
	}
	return cc.marshal(), nil
}

// HubEndpoint is the hub's public address from `# Endpoint = …` in its
// [Interface], or "" when the file has none.
func (b *PeerBook) HubEndpoint() string {
	f, hub, err := b.read()
	if err != nil {
		return ""
	}
	e, _ := hubEndpoint("", f, hub)
	return e
}

// InterfaceComment is the value of `# KEY = VALUE` in the hub's
// [Interface] (KEY matched without case), or "".
func (b *PeerBook) InterfaceComment(key string) string {
	f, _, err := b.read()
	if err != nil {
		return ""
	}
	return f.iface[strings.ToLower(key)]
}

// read loads and parses the file (as a whole config, so a change is never
// made to a file wgu could not bring up).
func (b *PeerBook) read() (*peerFile, *config.Config, error) {
	data, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading hub config: %w", err)
	}
	cfg, err := config.ParseConfig(b.Path, bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	return parsePeerFile(data), cfg, nil
}

// commit checks the edited file, writes it and applies it; if applying
// fails, the old file is written back.
func (b *PeerBook) commit(ctx context.Context, f *peerFile) error {
	old, err := os.ReadFile(b.Path)
	if err != nil {
		return fmt.Errorf("reading hub config: %w", err)
	}
	data := f.bytes()
	cfg, err := config.ParseConfig(b.Path, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("the edited config would not parse (nothing changed): %w", err)
	}
	if cfg.Interface.SaveConfig {
		// On down, SaveConfig rewrites the file from the device's state:
		// peer names, disabled peers and every comment would be lost.
		return fmt.Errorf("%s: SaveConfig = true: the file is rewritten from the running state on down, which would drop peer names, disabled peers and comments; set SaveConfig = false to manage peers in the file (nothing changed)", b.Path)
	}
	if err := CheckWritable(b.Path); err != nil {
		return err
	}
	if err := WriteFileAtomic(b.Path, data); err != nil {
		return err
	}
	if b.Apply == nil {
		return nil
	}
	if err := b.Apply(ctx); err != nil {
		if rerr := WriteFileAtomic(b.Path, old); rerr != nil {
			return fmt.Errorf("applying the change: %w (and restoring %s failed: %v)", err, b.Path, rerr)
		}
		return fmt.Errorf("applying the change (the file was restored): %w", err)
	}
	return nil
}

// hubEndpoint is the endpoint clients dial: explicit (a bare host gets the
// ListenPort), else `# Endpoint` in [Interface].
func hubEndpoint(explicit string, f *peerFile, hub *config.Config) (string, error) {
	e := explicit
	if e == "" {
		e = f.iface["endpoint"]
	}
	if e == "" {
		return "", errors.New("no hub endpoint for the client config: give --endpoint HOST:PORT, or write `# Endpoint = HOST:PORT` (the hub's public address) in its [Interface]")
	}
	if _, err := config.ParseEndpoint(e); err != nil {
		if hub.Interface.ListenPort == 0 {
			return "", fmt.Errorf("hub endpoint %q: expected HOST:PORT (the hub has no ListenPort to add)", e)
		}
		withPort := e + ":" + strconv.Itoa(int(hub.Interface.ListenPort))
		if strings.Contains(e, ":") && !strings.HasPrefix(e, "[") {
			withPort = "[" + e + "]:" + strconv.Itoa(int(hub.Interface.ListenPort))
		}
		if _, err2 := config.ParseEndpoint(withPort); err2 != nil {
			return "", fmt.Errorf("hub endpoint %q: %v", e, err)
		}
		e = withPort
	}
	return e, nil
}
