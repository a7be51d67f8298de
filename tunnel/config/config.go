package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// Config is a wg-quick configuration file: one interface and its peers, plus
// the rootless service sections wgu shares with wireproxy.
type Config struct {
	// Name is the interface name, taken from the file name (wg0.conf → wg0).
	Name      string
	Interface Interface
	Peers     []Peer
	// Services are the wireproxy-style sections ([Socks5], [http],
	// [TCPClientTunnel], [TCPServerTunnel], [UDPProxyTunnel]), in file order.
	Services []Section

	src *configSource // where ParseConfig found the peers; nil if built in code
}

// Interface is the [Interface] section.
type Interface struct {
	PrivateKey SecretKey
	ListenPort uint16 // 0: random port
	FwMark     uint32 // 0: off
	// PrivateKeyFile is the file PrivateKey was read from (a mounted
	// secret), or "" when the key was written inline. Marshalling writes
	// the path, not the key.
	PrivateKeyFile string

	// wg-quick keys.
	Addresses  []netip.Prefix
	DNS        []netip.Addr // nameservers
	DNSSearch  []string     // search domains
	MTU        int          // 0: automatic (route MTU towards the endpoints minus 80)
	Table      string       // "", "auto", "off" or a table number/name
	PreUp      []string
	PostUp     []string
	PreDown    []string
	PostDown   []string
	SaveConfig bool
}

// Peer is a [Peer] section.
type Peer struct {
	PublicKey           Key
	PresharedKey        SecretKey // zero: none
	AllowedIPs          []netip.Prefix
	Endpoint            Endpoint // zero: none
	PersistentKeepalive uint16   // seconds; 0: off
}

// Endpoint is a peer's UDP address as written: a host name or an IP literal,
// and a port. Host names are resolved when the config is applied.
type Endpoint struct {
	Host string // without brackets; may carry a %zone
	Port uint16
}

// IsZero reports whether no endpoint is set.
func (e Endpoint) IsZero() bool { return e.Host == "" }

// String formats the endpoint as wg does: host:port, or [v6]:port.
func (e Endpoint) String() string { return string(e.AppendTo(nil)) }

// AppendTo appends String's text to b, for printers of many peers that
// build each line in one buffer.
func (e Endpoint) AppendTo(b []byte) []byte {
	if e.IsZero() {
		return b
	}
	if isIPv6Literal(e.Host) {
		b = append(append(append(b, '['), e.Host...), ']')
	} else {
		b = append(b, e.Host...)
	}
	return strconv.AppendUint(append(b, ':'), uint64(e.Port), 10)
}

func isIPv6Literal(host string) bool {
	for i := 0; i < len(host); i++ {
		if host[i] == ':' {
			return true
		}
	}
	return false
}

// Section is a raw non-WireGuard section kept from the config file.
type Section struct {
	Name    string // as written, e.g. "Socks5"
	Line    int
	Options []Option
}

// Option is one key = value line of a Section.
type Option struct {
	Key, Value string
	Line       int
}

// ErrInvalidConfig is wrapped by every error about the content of a config.
var ErrInvalidConfig = errors.New("invalid configuration")

// ParseError says where in a config file something is wrong and what was
// expected there.
type ParseError struct {
	File string // path as given, or "" for a reader without a name
	Line int    // 1-based; 0 when the error is about the file as a whole
	Key  string // the key as written, or "" for a section or file-level error
	Msg  string // what is wrong and what was expected
}

// Error formats the error as FILE:LINE: KEY: message.
func (e *ParseError) Error() string {
	loc := e.File
	if loc == "" {
		loc = "config"
	}
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Unwrap lets callers test any ParseError with errors.Is(err, ErrInvalidConfig).
func (e *ParseError) Unwrap() error { return ErrInvalidConfig }
