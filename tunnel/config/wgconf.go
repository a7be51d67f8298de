package config

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WGConfig is a config in wg(8)'s own format, as `wg setconf`, `addconf`
// and `syncconf` take it (what `wg showconf` and `wgu strip` print): only
// PrivateKey, ListenPort and FwMark in [Interface], and the peers. Unlike a
// wg-quick file, every part is optional, and what the file leaves out is
// told apart from a zero value, because addconf sends only what is written.
type WGConfig struct {
	Config // Interface's wg-quick fields and Services stay empty

	HasPrivateKey, HasListenPort, HasFwMark bool

	peerKeys []map[string]bool // normalized keys each [Peer] wrote
}

// ParseWGConfig parses a wg(8) config with wgu's parser. wg-quick keys
// (Address, DNS, ...) and wgu's service sections are rejected as wg rejects
// them ("Line unrecognized"): run the file through `wgu strip` first.
func ParseWGConfig(file string, r io.Reader) (*WGConfig, error) {
	p := &parser{file: file, cfg: &Config{}}
	w := &WGConfig{}
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		text, readErr := br.ReadString('\n')
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return nil, fmt.Errorf("reading %s: %w", displayFile(file), readErr)
		}
		if text == "" && readErr != nil {
			break
		}
		text = strings.TrimSuffix(text, "\n")
		wgLine, err := p.line(n, text)
		if err != nil {
			return nil, err
		}
		stripped, _, _ := strings.Cut(text, "#")
		trimmed := trimSpace(stripped)
		if trimmed != "" && !wgLine {
			return nil, p.errorf(n, "", "Line unrecognized: `%s' (wg-quick and wgu keys are not wg(8)'s: use `wgu strip` first)",
				hideKeys(strings.Join(strings.FieldsFunc(trimmed, isSpace), "")))
		}
		for len(w.peerKeys) < len(p.cfg.Peers) {
			w.peerKeys = append(w.peerKeys, map[string]bool{})
		}
		if trimmed != "" && trimmed[0] != '[' {
			key, _, _ := strings.Cut(trimmed, "=")
			norm := NormalizeName(trimSpace(key))
			switch p.section {
			case sectionInterface:
				switch norm {
				case "privatekey":
					w.HasPrivateKey = true
				case "listenport":
					w.HasListenPort = true
				case "fwmark":
					w.HasFwMark = true
				}
			case sectionPeer:
				w.peerKeys[len(w.peerKeys)-1][norm] = true
			}
		}
		if readErr != nil {
			break
		}
	}
	for i, peer := range p.cfg.Peers {
		if peer.PublicKey.IsZero() {
			return nil, p.errorf(p.peerLines[i], "", "A peer is missing a public key")
		}
	}
	w.Config = *p.cfg
	return w, nil
}

// SetconfUAPI is the UAPI set body of `wg setconf`: the device fields
// always (zero when absent: no key, a random port, no mark), replace_peers,
// and the file's peers.
func (w *WGConfig) SetconfUAPI(ctx context.Context, r Resolver) (string, error) {
	var b strings.Builder
	w.writeDevice(&b, true)
	b.WriteString("replace_peers=true\n")
	if err := w.writePeers(ctx, r, &b, nil); err != nil {
		return "", err
	}
	return b.String(), nil
}

// AddconfUAPI is the UAPI set body of `wg addconf`: only what the file
// contains, each peer's allowed IPs replaced.
func (w *WGConfig) AddconfUAPI(ctx context.Context, r Resolver) (string, error) {
	var b strings.Builder
	w.writeDevice(&b, false)
	if err := w.writePeers(ctx, r, &b, nil); err != nil {
		return "", err
	}
	return b.String(), nil
}

// SyncconfUAPI is the UAPI set body of `wg syncconf` against the device's
// live state: like setconf, but instead of replacing all peers the live
// peers the file lacks are removed, and the others are updated in place
// (their sessions go on), with a live preshared key or keepalive the file
// does not set reset to zero. live are the device's peers as it reports
// them; a file without peers is setconf.
func (w *WGConfig) SyncconfUAPI(ctx context.Context, r Resolver, live []Peer) (string, error) {
	if len(w.Peers) == 0 {
		return w.SetconfUAPI(ctx, r)
	}
	var b strings.Builder
	w.writeDevice(&b, true)
	inFile := make(map[Key]bool, len(w.Peers))
	for _, p := range w.Peers {
		inFile[p.PublicKey] = true
	}
	livePeers := make(map[Key]Peer, len(live))
	for _, p := range live {
		livePeers[p.PublicKey] = p
		if !inFile[p.PublicKey] {
			b.WriteString("public_key=" + p.PublicKey.Hex() + "\nremove=true\n")
		}
	}
	if err := w.writePeers(ctx, r, &b, livePeers); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (w *WGConfig) writeDevice(b *strings.Builder, always bool) {
	ifc := w.Interface
	if always || w.HasPrivateKey {
		b.WriteString("private_key=" + ifc.PrivateKey.Reveal().Hex() + "\n")
	}
	if always || w.HasListenPort {
		b.WriteString("listen_port=" + strconv.FormatUint(uint64(ifc.ListenPort), 10) + "\n")
	}
	if always || w.HasFwMark {
		b.WriteString("fwmark=" + strconv.FormatUint(uint64(ifc.FwMark), 10) + "\n")
	}
}

// writePeers renders the file's peers; with live (syncconf), a preshared
// key or keepalive the file leaves out but the device has is reset.
func (w *WGConfig) writePeers(ctx context.Context, r Resolver, b *strings.Builder, live map[Key]Peer) error {
	for i, p := range w.Peers {
		has := w.peerKeys[i]
		lp, isLive := live[p.PublicKey]
		b.WriteString("public_key=" + p.PublicKey.Hex() + "\n")
		switch {
		case has["presharedkey"]:
			b.WriteString("preshared_key=" + p.PresharedKey.Reveal().Hex() + "\n")
		case isLive && !lp.PresharedKey.IsZero():
			b.WriteString("preshared_key=" + Key{}.Hex() + "\n")
		}
		if has["endpoint"] {
			ap, err := ResolveEndpoint(ctx, r, p.Endpoint)
			if err != nil {
				return fmt.Errorf("peer %s: endpoint %s: %w", p.PublicKey, p.Endpoint, err)
			}
			b.WriteString("endpoint=" + ap.String() + "\n")
		}
		switch {
		case has["persistentkeepalive"]:
			b.WriteString("persistent_keepalive_interval=" + strconv.FormatUint(uint64(p.PersistentKeepalive), 10) + "\n")
		case isLive && lp.PersistentKeepalive != 0:
			b.WriteString("persistent_keepalive_interval=0\n")
		}
		// Every [Peer] replaces the peer's allowed IPs, as in wg.
		b.WriteString("replace_allowed_ips=true\n")
		for _, pfx := range p.AllowedIPs {
			b.WriteString("allowed_ip=" + pfx.String() + "\n")
		}
	}
	return nil
}
