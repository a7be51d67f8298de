package config

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Resolver looks up host names; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ErrNoAddress is returned when a name resolves to nothing.
var ErrNoAddress = errors.New("no address found")

// ResolveEndpoint returns e as an IP:port. An IP literal (with any %zone) needs
// no lookup; a host name is resolved with r and its first address is used.
func ResolveEndpoint(ctx context.Context, r Resolver, e Endpoint) (netip.AddrPort, error) {
	if e.IsZero() {
		return netip.AddrPort{}, errors.New("no endpoint")
	}
	if addr, err := netip.ParseAddr(e.Host); err == nil {
		return netip.AddrPortFrom(addr, e.Port), nil
	}
	addrs, err := r.LookupNetIP(ctx, "ip", e.Host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolving %s: %w", e.Host, err)
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolving %s: %w", e.Host, ErrNoAddress)
	}
	// net.Resolver returns IPv4 answers in their IPv4-mapped IPv6 form.
	return netip.AddrPortFrom(addrs[0].Unmap(), e.Port), nil
}

// UAPISet renders the config as the body of a UAPI "set" operation (without
// "set=1" and the final blank line) with `wg setconf` semantics: device
// fields always, replace_peers, and per peer replace_allowed_ips. Host names
// are resolved with r.
func (c *Config) UAPISet(ctx context.Context, r Resolver) (string, error) {
	var b strings.Builder
	line := func(key, value string) {
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	line("private_key", c.Interface.PrivateKey.Reveal().Hex())
	line("listen_port", strconv.FormatUint(uint64(c.Interface.ListenPort), 10))
	line("fwmark", strconv.FormatUint(uint64(c.Interface.FwMark), 10))
	line("replace_peers", "true")
	for _, p := range c.Peers {
		if err := WritePeerUAPI(ctx, r, &b, p); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// WritePeerUAPI renders one peer's set lines, replacing its allowed IPs.
func WritePeerUAPI(ctx context.Context, r Resolver, b *strings.Builder, p Peer) error {
	line := func(key, value string) {
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	line("public_key", p.PublicKey.Hex())
	if !p.PresharedKey.IsZero() {
		line("preshared_key", p.PresharedKey.Reveal().Hex())
	}
	if !p.Endpoint.IsZero() {
		ap, err := ResolveEndpoint(ctx, r, p.Endpoint)
		if err != nil {
			return fmt.Errorf("peer %s: endpoint %s: %w", p.PublicKey, p.Endpoint, err)
		}
		line("endpoint", ap.String())
	}
	line("persistent_keepalive_interval", strconv.FormatUint(uint64(p.PersistentKeepalive), 10))
	line("replace_allowed_ips", "true")
	for _, pfx := range p.AllowedIPs {
		line("allowed_ip", pfx.String())
	}
	return nil
}
