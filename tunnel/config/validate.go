package config

import (
	"fmt"
	"strings"
)

// Validate checks what Up needs of a config built in code, which ParseConfig
// checks (with file and line) for a file: every error wraps ErrInvalidConfig.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c == nil {
		return bad("no config")
	}
	if c.Name == "" {
		return bad("the interface has no name")
	}
	ifc := &c.Interface
	if ifc.MTU != 0 && (ifc.MTU < MinMTU || ifc.MTU > maxMTU) {
		return bad("MTU %d: expected 0 (automatic) or a number from %d to %d", ifc.MTU, MinMTU, maxMTU)
	}
	if ifc.Table != "" {
		if _, err := parseTable(ifc.Table); err != nil {
			return bad("Table: %v", err)
		}
	}
	for _, a := range ifc.Addresses {
		if !a.IsValid() {
			return bad("Address: an invalid prefix")
		}
	}
	var own Key
	if !ifc.PrivateKey.IsZero() {
		own = ifc.PrivateKey.PublicKey()
	}
	seen := make(map[Key]bool, len(c.Peers))
	for i, p := range c.Peers {
		switch {
		case p.PublicKey.IsZero():
			return bad("peer %d has no PublicKey (it is required)", i+1)
		case p.PublicKey == own:
			return bad("peer %s is this interface's own public key (expected the key of another machine)", p.PublicKey)
		case seen[p.PublicKey]:
			return bad("peer %s is given twice (expected each peer once)", p.PublicKey)
		}
		seen[p.PublicKey] = true
		for _, a := range p.AllowedIPs {
			if !a.IsValid() {
				return bad("peer %s: AllowedIPs: an invalid prefix", p.PublicKey)
			}
		}
		if !p.Endpoint.IsZero() && p.Endpoint.Port == 0 {
			return bad("peer %s: Endpoint %s has no port (expected HOST:PORT)", p.PublicKey, p.Endpoint.Host)
		}
	}
	for _, s := range c.Services {
		spec, ok := serviceKeys[NormalizeName(s.Name)]
		if !ok {
			return bad("unknown section [%s] (expected [Socks5], [http], [TCPClientTunnel], [TCPServerTunnel] or [UDPProxyTunnel])", s.Name)
		}
		for _, o := range s.Options {
			known := false
			for _, k := range spec.allowed {
				known = known || strings.EqualFold(k, o.Key)
			}
			if !known {
				return bad("[%s]: unknown key %s (valid keys: %s)", s.Name, o.Key, strings.Join(spec.allowed, ", "))
			}
			if err := checkServiceValue(strings.ToLower(o.Key), o.Value); err != nil {
				return bad("[%s]: %s: %v", s.Name, o.Key, err)
			}
		}
		for _, k := range spec.required {
			if s.Get(k) == "" {
				return bad("[%s] has no %s (it is required)", s.Name, k)
			}
		}
	}
	return nil
}
