package config

import (
	"fmt"
	"net/netip"
)

// Warning is something in a config that parses, and that wireguard would
// run, but that probably does not do what was meant. It names file, line
// and key as a ParseError does (when the config came from a file).
type Warning struct {
	File string // "" for a config built in code
	Line int    // 0 when unknown
	Key  string // the key as written, or "" for a section
	Msg  string
}

// String is the warning as `wgu up` prints it: FILE:LINE: message.
func (w Warning) String() string {
	return (&ParseError{File: w.File, Line: w.Line, Key: w.Key, Msg: w.Msg}).Error()
}

// configSource records where a parsed config's peers were written, so that
// warnings can point at lines.
type configSource struct {
	file  string
	peers []peerSource // by index in Config.Peers, as parsed
}

type peerSource struct {
	key          Key    // the peer's PublicKey as parsed (to notice an edited list)
	line         int    // its [Peer] header
	keyLine      int    // its PublicKey line
	keyName      string // that key as written
	allowedLines []int  // the line of each AllowedIPs entry
	allowedName  string // the AllowedIPs key as written
}

// peerAt is where peer i was written, if c came from a file and the peer
// is still the one parsed there.
func (c *Config) peerAt(i int) (peerSource, string, bool) {
	if c.src == nil || i >= len(c.src.peers) || c.src.peers[i].key != c.Peers[i].PublicKey {
		return peerSource{}, "", false
	}
	return c.src.peers[i], c.src.file, true
}

// describePeer names peer i for a message: by its line when known.
func (c *Config) describePeer(i int) string {
	if ps, _, ok := c.peerAt(i); ok {
		return fmt.Sprintf("the [Peer] on line %d", ps.line)
	}
	return "peer " + c.Peers[i].PublicKey.String()
}

// Warnings lists the mistakes in c that misroute silently rather than fail:
//
//   - the same AllowedIPs prefix on two peers (the later peer takes it, and
//     the earlier loses its route);
//   - a peer whose PublicKey is this interface's own (wireguard ignores it;
//     ParseConfig and Up refuse it, so only a config not yet checked has it);
//   - a peer without Endpoint on an interface without ListenPort: this
//     side cannot start a handshake, and the peer cannot know the random
//     port this side listens on, so neither can.
//
// Up logs them; `wgu up` and `wgu reload` show them.
func (c *Config) Warnings() []Warning {
	var ws []Warning
	file := ""
	if c.src != nil {
		file = c.src.file
	}
	warn := func(line int, key, format string, args ...any) {
		ws = append(ws, Warning{File: file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	var own Key
	if !c.Interface.PrivateKey.IsZero() {
		own = c.Interface.PrivateKey.PublicKey()
	}
	owner := make(map[netip.Prefix]int, len(c.Peers)) // sized: a hub has thousands
	for i, p := range c.Peers {
		ps, _, known := c.peerAt(i)
		if !own.IsZero() && p.PublicKey == own {
			warn(ps.keyLine, ps.keyName, "%s is this interface's own public key: wireguard ignores such a peer", p.PublicKey)
		}
		for j, a := range p.AllowedIPs {
			m := a.Masked()
			first, dup := owner[m]
			if !dup {
				owner[m] = i
				continue
			}
			if first == i {
				continue
			}
			line, key := 0, "AllowedIPs"
			if known && j < len(ps.allowedLines) {
				line, key = ps.allowedLines[j], ps.allowedName
			}
			warn(line, key, "%s is also in the AllowedIPs of %s: only this later peer gets it, the earlier one loses the route", a, c.describePeer(first))
		}
		if p.Endpoint.IsZero() && c.Interface.ListenPort == 0 {
			where := ""
			if !known {
				where = "peer " + p.PublicKey.String() + ": "
			}
			warn(ps.line, "", "%sthis peer has no Endpoint and [Interface] has no ListenPort, so neither side can start a handshake (give the peer an Endpoint, or this interface a ListenPort the peer connects to)", where)
		}
	}
	return ws
}
