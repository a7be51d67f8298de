package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// MarshalText writes the config in wg-quick format: [Interface] with every
// key that is set, then each [Peer], then the service sections with their
// options as written. ParseConfig reads the result back to an equal Config
// (line numbers aside).
func (c *Config) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	ifc := &c.Interface
	b.WriteString("[Interface]\n")
	if ifc.PrivateKeyFile != "" {
		fmt.Fprintf(&b, "PrivateKeyFile = %s\n", ifc.PrivateKeyFile)
	} else if !ifc.PrivateKey.IsZero() {
		fmt.Fprintf(&b, "PrivateKey = %s\n", ifc.PrivateKey.Reveal())
	}
	if ifc.ListenPort != 0 {
		fmt.Fprintf(&b, "ListenPort = %d\n", ifc.ListenPort)
	}
	if ifc.FwMark != 0 {
		fmt.Fprintf(&b, "FwMark = 0x%x\n", ifc.FwMark)
	}
	if len(ifc.Addresses) > 0 {
		fmt.Fprintf(&b, "Address = %s\n", JoinPrefixes(ifc.Addresses))
	}
	if len(ifc.DNS)+len(ifc.DNSSearch) > 0 {
		dns := make([]string, 0, len(ifc.DNS)+len(ifc.DNSSearch))
		for _, a := range ifc.DNS {
			dns = append(dns, a.String())
		}
		dns = append(dns, ifc.DNSSearch...)
		fmt.Fprintf(&b, "DNS = %s\n", strings.Join(dns, ", "))
	}
	if ifc.MTU != 0 {
		fmt.Fprintf(&b, "MTU = %d\n", ifc.MTU)
	}
	if ifc.Table != "" {
		fmt.Fprintf(&b, "Table = %s\n", ifc.Table)
	}
	for _, hooks := range []struct {
		key   string
		lines []string
	}{{"PreUp", ifc.PreUp}, {"PostUp", ifc.PostUp}, {"PreDown", ifc.PreDown}, {"PostDown", ifc.PostDown}} {
		for _, h := range hooks.lines {
			if strings.ContainsAny(h, "\n") {
				return nil, fmt.Errorf("%s %q: a hook must be one line", hooks.key, h)
			}
			fmt.Fprintf(&b, "%s = %s\n", hooks.key, h)
		}
	}
	if ifc.SaveConfig {
		b.WriteString("SaveConfig = true\n")
	}

	for _, p := range c.Peers {
		b.WriteString("\n[Peer]\n")
		fmt.Fprintf(&b, "PublicKey = %s\n", p.PublicKey)
		if !p.PresharedKey.IsZero() {
			fmt.Fprintf(&b, "PresharedKey = %s\n", p.PresharedKey.Reveal())
		}
		if len(p.AllowedIPs) > 0 {
			fmt.Fprintf(&b, "AllowedIPs = %s\n", JoinPrefixes(p.AllowedIPs))
		}
		if !p.Endpoint.IsZero() {
			fmt.Fprintf(&b, "Endpoint = %s\n", p.Endpoint)
		}
		if p.PersistentKeepalive != 0 {
			fmt.Fprintf(&b, "PersistentKeepalive = %d\n", p.PersistentKeepalive)
		}
	}

	for _, s := range c.Services {
		fmt.Fprintf(&b, "\n[%s]\n", s.Name)
		for _, o := range s.Options {
			if strings.ContainsAny(o.Key+o.Value, "\n#") {
				return nil, fmt.Errorf("[%s] %s: %q cannot be written on one line", s.Name, o.Key, o.Value)
			}
			fmt.Fprintf(&b, "%s = %s\n", o.Key, o.Value)
		}
	}
	return b.Bytes(), nil
}

// JoinPrefixes writes a prefix list as wg-quick files do: "a, b".
func JoinPrefixes(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}
