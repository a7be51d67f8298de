package peerbook

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/wgu-project/wgu/tunnel/config"
)

// clientConfig is what a new client needs: its own [Interface] and the hub
// as its one peer. The same fields, kept as comments in the hub's file
// (# Client…), make the same text again for `wgu peer show`.
type clientConfig struct {
	priv      config.Key
	address   []netip.Prefix
	dns       []netip.Addr
	hub       config.Key // the hub's public key
	psk       config.Key
	allowed   []netip.Prefix
	endpoint  string
	keepalive uint16
}

// marshal writes the client's wg-quick file.
func (c clientConfig) marshal() []byte {
	var b strings.Builder
	b.WriteString("[Interface]\n")
	b.WriteString("PrivateKey = " + c.priv.String() + "\n")
	b.WriteString("Address = " + config.JoinPrefixes(c.address) + "\n")
	if len(c.dns) > 0 {
		b.WriteString("DNS = " + joinAddrs(c.dns) + "\n")
	}
	b.WriteString("\n[Peer]\n")
	b.WriteString("PublicKey = " + c.hub.String() + "\n")
	if !c.psk.IsZero() {
		b.WriteString("PresharedKey = " + c.psk.String() + "\n")
	}
	b.WriteString("AllowedIPs = " + config.JoinPrefixes(c.allowed) + "\n")
	b.WriteString("Endpoint = " + c.endpoint + "\n")
	if c.keepalive > 0 {
		b.WriteString("PersistentKeepalive = " + strconv.Itoa(int(c.keepalive)) + "\n")
	}
	return []byte(b.String())
}

// comments are the # Client… lines of the hub's [Peer] block that keep
// what marshal needs beyond the block's own keys.
func (c clientConfig) comments() []string {
	out := []string{"# ClientPrivateKey = " + c.priv.String()}
	if len(c.dns) > 0 {
		out = append(out, "# ClientDNS = "+joinAddrs(c.dns))
	}
	out = append(out, "# ClientAllowedIPs = "+config.JoinPrefixes(c.allowed), "# ClientEndpoint = "+c.endpoint)
	if c.keepalive > 0 {
		out = append(out, "# ClientKeepalive = "+strconv.Itoa(int(c.keepalive)))
	}
	return out
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
