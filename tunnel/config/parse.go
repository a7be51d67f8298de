package config

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/wgu-project/wgu/netstackx/services"
)

// ParseConfig parses a wg-quick file. file names it in errors. Config.Name is
// left empty.
//
// Every error is a *ParseError naming the line and key, and saying what was
// expected there.
func ParseConfig(file string, r io.Reader) (*Config, error) {
	cfg, _, err := parseConfig(file, r)
	return cfg, err
}

// LoadConfig reads path and parses it. Config.Name is the interface name
// wg-quick derives from the file name.
func LoadConfig(path string) (*Config, error) {
	name, ok := interfaceNameFromPath(path)
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, errConfigFileName)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	cfg, _, err := parseConfig(path, f)
	if err != nil {
		return nil, err
	}
	cfg.Name = name
	return cfg, nil
}

// sectionKind says which kind of section a line belongs to.
type sectionKind int

const (
	sectionNone sectionKind = iota
	sectionInterface
	sectionPeer
	sectionService
)

// sourceLine is one line of the input as written, and whether wg(8) would
// take it (what `strip` keeps).
type sourceLine struct {
	text   string // without the line terminator
	wgLine bool
}

// parser holds the state of one parse: the section being read and where
// things were seen, so file-level errors can point at a line.
type parser struct {
	file  string
	cfg   *Config
	lines []sourceLine

	section       sectionKind
	interfaceLine int // line of the first [Interface], 0 if none
	sawPrivateKey bool

	peerLines    []int    // line of each peer's [Peer] header
	peerKeyLines []int    // line of each peer's PublicKey, 0 if none
	peerKeyNames []string // that key as written
	peerAllowed  [][]int  // line of each peer's AllowedIPs entries
	allowedNames []string // each peer's AllowedIPs key as written
	serviceSeen  []map[string]bool

	// norms caches NormalizeName of the keys and section names as
	// written (see normalize).
	norms map[string]string
}

func parseConfig(file string, r io.Reader) (*Config, []sourceLine, error) {
	p := &parser{file: file, cfg: &Config{}}
	// One read and lines cut from it, rather than a string per line: a
	// hub's file has tens of thousands of lines, and a reload reads it all.
	rest, err := readText(r)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", displayFile(file), err)
	}
	p.lines = make([]sourceLine, 0, strings.Count(rest, "\n")+1)
	// Room for every section the file may have, so that a hub's peers
	// are not copied again and again as they are appended.
	sections := strings.Count(rest, "\n[") + 1
	p.cfg.Peers = make([]Peer, 0, sections)
	p.peerLines = make([]int, 0, sections)
	p.peerKeyLines = make([]int, 0, sections)
	p.peerKeyNames = make([]string, 0, sections)
	p.peerAllowed = make([][]int, 0, sections)
	p.allowedNames = make([]string, 0, sections)
	for lineNo := 1; rest != ""; lineNo++ {
		text, after, _ := strings.Cut(rest, "\n")
		rest = after
		wgLine, err := p.line(lineNo, text)
		if err != nil {
			return nil, nil, err
		}
		p.lines = append(p.lines, sourceLine{text: text, wgLine: wgLine})
	}
	if err := p.finish(); err != nil {
		return nil, nil, err
	}
	return p.cfg, p.lines, nil
}

// readText reads all of r into one string, copied once: into a builder
// sized from r's length when r knows it (a file, a strings or bytes
// Reader), whose string then shares its bytes.
func readText(r io.Reader) (string, error) {
	var sb strings.Builder
	switch l := r.(type) {
	case interface{ Len() int }:
		sb.Grow(l.Len())
	case interface{ Stat() (os.FileInfo, error) }:
		if fi, err := l.Stat(); err == nil && fi.Mode().IsRegular() {
			sb.Grow(int(fi.Size()) + 1) // +1: room to see EOF without growing
		}
	}
	if _, err := io.Copy(&sb, r); err != nil {
		return "", err
	}
	return sb.String(), nil
}

func displayFile(file string) string {
	if file == "" {
		return "config"
	}
	return file
}

func (p *parser) errorf(line int, key, format string, args ...any) error {
	return &ParseError{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// line handles one line and reports whether wg(8) would take it.
func (p *parser) line(n int, raw string) (bool, error) {
	stripped, _, _ := strings.Cut(raw, "#")
	trimmed := trimSpace(stripped)
	if trimmed == "" {
		// Blank and comment lines go wherever their section goes.
		return p.section != sectionService, nil
	}
	if trimmed[0] == '[' {
		return p.header(n, trimmed)
	}
	eq := strings.IndexByte(trimmed, '=')
	if eq < 0 {
		return false, p.errorf(n, "", "%q is neither a [Section] header nor a KEY = VALUE line", hideKeys(trimmed))
	}
	key := trimSpace(trimmed[:eq])
	value := trimSpace(trimmed[eq+1:])
	if key == "" {
		return false, p.errorf(n, "", "%q has no key before '=' (expected KEY = VALUE)", hideKeys(trimmed))
	}
	if len(key) >= keyLikeRun && hideKeys(key) != key {
		// A key's own '=' padding made this look like KEY = VALUE ("PrivateKey: <key>", a key alone): the "key"
		// is a secret, and errors quote keys.
		return false, p.errorf(n, "", "%q is not a KEY = VALUE line", hideKeys(key))
	}
	norm := p.normalize(key)
	if isHookKey(norm) {
		// Hooks are shell code: wg-quick keeps their '#'.
		_, after, _ := strings.Cut(raw, "=")
		value = trimSpace(after)
	}
	if value == "" {
		return false, p.errorf(n, key, "empty value (expected %s)", expectedValue(norm))
	}
	switch p.section {
	case sectionInterface:
		return p.interfaceKey(n, key, norm, value)
	case sectionPeer:
		return true, p.peerKey(n, key, norm, value)
	case sectionService:
		return false, p.serviceKey(n, key, norm, value)
	default:
		return false, p.errorf(n, key, "line before any section (expected an [Interface] or [Peer] header first)")
	}
}

// normalize is NormalizeName, remembered for each spelling: a hub's file
// spells the same few keys and headers thousands of times.
func (p *parser) normalize(name string) string {
	norm, ok := p.norms[name]
	if !ok {
		norm = NormalizeName(name)
		if p.norms == nil {
			p.norms = map[string]string{}
		}
		p.norms[name] = norm
	}
	return norm
}

// header starts a new section.
func (p *parser) header(n int, trimmed string) (bool, error) {
	if !strings.HasSuffix(trimmed, "]") {
		return false, p.errorf(n, "", "%q is not a section header (expected [Interface], [Peer] or a service section such as [Socks5])", hideKeys(trimmed))
	}
	name := trimSpace(trimmed[1 : len(trimmed)-1])
	switch norm := p.normalize(name); norm {
	case "interface":
		p.section = sectionInterface
		if p.interfaceLine == 0 {
			p.interfaceLine = n
		}
		return true, nil
	case "peer":
		p.section = sectionPeer
		p.cfg.Peers = append(p.cfg.Peers, Peer{})
		p.peerLines = append(p.peerLines, n)
		p.peerKeyLines = append(p.peerKeyLines, 0)
		p.peerKeyNames = append(p.peerKeyNames, "")
		p.peerAllowed = append(p.peerAllowed, nil)
		p.allowedNames = append(p.allowedNames, "")
		return true, nil
	default:
		if _, ok := serviceKeys[norm]; !ok {
			return false, p.errorf(n, "", "unknown section [%s] (expected [Interface], [Peer], [Socks5], [http], [TCPClientTunnel], [TCPServerTunnel] or [UDPProxyTunnel])", name)
		}
		p.section = sectionService
		p.cfg.Services = append(p.cfg.Services, Section{Name: name, Line: n})
		p.serviceSeen = append(p.serviceSeen, map[string]bool{})
		return false, nil
	}
}

// wgQuickKeys are the [Interface] keys wg-quick handles itself and never
// passes to wg(8).
var wgQuickKeys = map[string]bool{
	"address": true, "dns": true, "mtu": true, "table": true,
	"preup": true, "postup": true, "predown": true, "postdown": true,
	"saveconfig": true,
	// wgu's own: wg(8) has no such key (`wg set IFACE private-key FILE` is
	// its way), so strip drops it and the running key stays.
	"privatekeyfile": true,
}

var peerKeyNames = map[string]bool{
	"publickey": true, "presharedkey": true, "allowedips": true,
	"endpoint": true, "persistentkeepalive": true,
}

const (
	interfaceKeyList = "PrivateKey, ListenPort, FwMark, Address, DNS, MTU, Table, PreUp, PostUp, PreDown, PostDown, SaveConfig, PrivateKeyFile"
	peerKeyList      = "PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive"
)

func isHookKey(norm string) bool {
	switch norm {
	case "preup", "postup", "predown", "postdown":
		return true
	}
	return false
}

func (p *parser) interfaceKey(n int, key, norm, value string) (bool, error) {
	ifc := &p.cfg.Interface
	switch norm {
	case "privatekey":
		k, err := ParseKey(value)
		if err != nil {
			// The value is a secret: do not echo it.
			return false, p.errorf(n, key, "not a valid key (expected 44 characters of base64, as `wgu genkey` prints)")
		}
		if k.IsZero() {
			return false, p.errorf(n, key, "the key is all zeros (expected a private key, as `wgu genkey` prints)")
		}
		if ifc.PrivateKeyFile != "" {
			return false, p.errorf(n, key, "PrivateKeyFile is already set (expected one of PrivateKey and PrivateKeyFile)")
		}
		ifc.PrivateKey = k.Secret()
		p.sawPrivateKey = true
	case "privatekeyfile":
		if p.sawPrivateKey && ifc.PrivateKeyFile == "" {
			return false, p.errorf(n, key, "PrivateKey is already set (expected one of PrivateKey and PrivateKeyFile)")
		}
		k, err := ReadPrivateKeyFile(value)
		if err != nil {
			return false, p.errorf(n, key, "%v", err)
		}
		ifc.PrivateKey, ifc.PrivateKeyFile = k, value
		p.sawPrivateKey = true
	case "listenport":
		port, err := parseListenPort(value)
		if err != nil {
			return false, p.errorf(n, key, "%v", err)
		}
		ifc.ListenPort = port
	case "fwmark":
		mark, err := parseFwMark(value)
		if err != nil {
			return false, p.errorf(n, key, "%v", err)
		}
		ifc.FwMark = mark
	case "address":
		for _, v := range splitWords(value) {
			pfx, err := ParsePrefix(v)
			if err != nil {
				return false, p.errorf(n, key, "%v", err)
			}
			ifc.Addresses = append(ifc.Addresses, pfx)
		}
	case "dns":
		for _, v := range splitWords(value) {
			if looksLikeNameserver(v) {
				addr, err := netip.ParseAddr(v)
				if err != nil || !validZone(addr) {
					return false, p.errorf(n, key, "%q is not a valid IP address (expected a nameserver address such as 1.1.1.1, or a search domain)", v)
				}
				ifc.DNS = append(ifc.DNS, addr)
				continue
			}
			if !isSearchDomain(v) {
				return false, p.errorf(n, key, "%q is neither an IP address nor a domain name (expected nameserver addresses and search domains, e.g. 1.1.1.1, example.com)", v)
			}
			ifc.DNSSearch = append(ifc.DNSSearch, v)
		}
	case "mtu":
		mtu, err := parseMTU(value)
		if err != nil {
			return false, p.errorf(n, key, "%v", err)
		}
		ifc.MTU = mtu
	case "table":
		table, err := parseTable(value)
		if err != nil {
			return false, p.errorf(n, key, "%v", err)
		}
		ifc.Table = table
	case "preup":
		ifc.PreUp = append(ifc.PreUp, value)
	case "postup":
		ifc.PostUp = append(ifc.PostUp, value)
	case "predown":
		ifc.PreDown = append(ifc.PreDown, value)
	case "postdown":
		ifc.PostDown = append(ifc.PostDown, value)
	case "saveconfig":
		switch {
		case strings.EqualFold(value, "true"):
			ifc.SaveConfig = true
		case strings.EqualFold(value, "false"):
			ifc.SaveConfig = false
		default:
			return false, p.errorf(n, key, "%q is neither true nor false", value)
		}
	default:
		if peerKeyNames[norm] {
			return false, p.errorf(n, key, "%s belongs in a [Peer] section, not in [Interface]", key)
		}
		return false, p.errorf(n, key, "unknown key in [Interface] (valid keys: %s)", interfaceKeyList)
	}
	return !wgQuickKeys[norm], nil
}

func (p *parser) peerKey(n int, key, norm, value string) error {
	i := len(p.cfg.Peers) - 1
	peer := &p.cfg.Peers[i]
	switch norm {
	case "publickey":
		k, err := ParseKey(value)
		if err != nil {
			return p.errorf(n, key, "%q is not a valid key (expected 44 characters of base64, as `wgu pubkey` prints)", value)
		}
		if k.IsZero() {
			return p.errorf(n, key, "the key is all zeros (expected a peer's public key, as `wgu pubkey` prints)")
		}
		peer.PublicKey = k
		p.peerKeyLines[i] = n
		p.peerKeyNames[i] = key
	case "presharedkey":
		k, err := ParseKey(value)
		if err != nil {
			return p.errorf(n, key, "not a valid key (expected 44 characters of base64, as `wgu genpsk` prints)")
		}
		peer.PresharedKey = k.Secret()
	case "allowedips":
		for _, v := range strings.Split(value, ",") {
			v = trimSpace(v)
			if v == "" {
				return p.errorf(n, key, "empty entry in %q (expected a comma-separated list of ADDRESS[/BITS])", value)
			}
			if v[0] == '+' || v[0] == '-' {
				return p.errorf(n, key, "%q: +/- prefixes are for `wg set`, not config files (expected ADDRESS[/BITS])", v)
			}
			if strings.ContainsFunc(v, isSpace) {
				return p.errorf(n, key, "%q is not a valid IP prefix (separate entries with commas, e.g. 10.0.0.0/24, fd00::/64)", v)
			}
			pfx, err := ParsePrefix(v)
			if err != nil {
				return p.errorf(n, key, "%v", err)
			}
			peer.AllowedIPs = append(peer.AllowedIPs, pfx)
			p.peerAllowed[i] = append(p.peerAllowed[i], n)
		}
		if p.allowedNames[i] == "" {
			p.allowedNames[i] = key
		}
	case "endpoint":
		e, err := ParseEndpoint(value)
		if err != nil {
			return p.errorf(n, key, "%v", err)
		}
		peer.Endpoint = e
	case "persistentkeepalive":
		k, err := ParseKeepalive(value)
		if err != nil {
			return p.errorf(n, key, "%v", err)
		}
		peer.PersistentKeepalive = k
	default:
		if wgQuickKeys[norm] || norm == "privatekey" || norm == "listenport" || norm == "fwmark" {
			return p.errorf(n, key, "%s belongs in the [Interface] section, not in [Peer]", key)
		}
		return p.errorf(n, key, "unknown key in [Peer] (valid keys: %s)", peerKeyList)
	}
	return nil
}

// finish checks what can only be checked once the whole file is read.
func (p *parser) finish() error {
	if p.interfaceLine == 0 {
		return p.errorf(0, "", "missing [Interface] section (expected one, with at least a PrivateKey)")
	}
	if !p.sawPrivateKey {
		return p.errorf(p.interfaceLine, "", "missing PrivateKey in [Interface] (it is required; make one with `wgu genkey`, or name a file holding one with PrivateKeyFile)")
	}
	own := p.cfg.Interface.PrivateKey.PublicKey()
	seen := make(map[Key]int, len(p.cfg.Peers))
	for i, peer := range p.cfg.Peers {
		if peer.PublicKey.IsZero() {
			return p.errorf(p.peerLines[i], "", "[Peer] has no PublicKey (it is required)")
		}
		keyLine, keyName := p.peerKeyLines[i], p.peerKeyNames[i]
		if peer.PublicKey == own {
			return p.errorf(keyLine, keyName, "%s is this interface's own public key (expected the key of another machine)", peer.PublicKey)
		}
		if first, dup := seen[peer.PublicKey]; dup {
			return p.errorf(keyLine, keyName, "peer %s is already defined by the [Peer] on line %d (expected each peer once)", peer.PublicKey, first)
		}
		seen[peer.PublicKey] = p.peerLines[i]
	}
	for i, s := range p.cfg.Services {
		if err := p.checkService(s, p.serviceSeen[i]); err != nil {
			return err
		}
	}
	src := &configSource{file: p.file, peers: make([]peerSource, 0, len(p.cfg.Peers))}
	for i, peer := range p.cfg.Peers {
		src.peers = append(src.peers, peerSource{key: peer.PublicKey, line: p.peerLines[i],
			keyLine: p.peerKeyLines[i], keyName: p.peerKeyNames[i],
			allowedLines: p.peerAllowed[i], allowedName: p.allowedNames[i]})
	}
	p.cfg.src = src
	// No spare room left from the estimate: a caller appending to Peers
	// gets a copy of its own (and no peers is nil, as before).
	p.cfg.Peers = slices.Clip(p.cfg.Peers)
	if len(p.cfg.Peers) == 0 {
		p.cfg.Peers = nil
	}
	return nil
}

// trimSpace trims the ASCII whitespace bash's [[:space:]] and wg's isspace
// know; Unicode spaces are part of a value. It runs several times on each
// of a hub's tens of thousands of lines: a loop over bytes, rather than
// strings.Trim, which builds its character set at each call.
func trimSpace(s string) string {
	for len(s) > 0 && isSpace(rune(s[0])) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(rune(s[len(s)-1])) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// NormalizeName folds a key or section name for matching: wg ignores case and
// every whitespace character.
func NormalizeName(s string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		if isSpace(r) {
			return -1
		}
		return r
	}, s))
}

// splitWords splits on commas and whitespace, as wg-quick's ${v//,/ } does.
func splitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || isSpace(r) })
}

func expectedValue(norm string) string {
	switch norm {
	case "privatekey", "publickey", "presharedkey":
		return "a base64 key"
	case "listenport":
		return "a port number, 0 to 65535"
	case "fwmark":
		return "off, a number or 0xHEX"
	case "address", "allowedips":
		return "ADDRESS[/BITS], e.g. 10.0.0.0/24"
	case "dns":
		return "nameserver addresses or search domains"
	case "mtu":
		return "a number, 576 to 65535"
	case "table":
		return "off, auto, or a routing table number or name"
	case "saveconfig":
		return "true or false"
	case "endpoint":
		return "HOST:PORT"
	case "persistentkeepalive":
		return "off or seconds, 0 to 65535"
	case "preup", "postup", "predown", "postdown":
		return "a shell command"
	}
	return "a value after '='"
}

// IsDigits reports whether s is one or more ASCII digits.
func IsDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseListenPort(v string) (uint16, error) {
	if !IsDigits(v) {
		return 0, fmt.Errorf("%q is not a port number (expected 0 to 65535; service names are not supported)", v)
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range (expected a port number, 0 to 65535)", v)
	}
	return uint16(n), nil
}

// parseFwMark follows wg: off, decimal, or 0x hex, at most 0xffffffff.
func parseFwMark(v string) (uint32, error) {
	if strings.EqualFold(v, "off") {
		return 0, nil
	}
	digits, base := v, 10
	if len(v) > 2 && v[0] == '0' && v[1] == 'x' {
		digits, base = v[2:], 16
	}
	n, err := strconv.ParseUint(digits, base, 32)
	if err != nil || v[0] < '0' || v[0] > '9' {
		return 0, fmt.Errorf("%q is neither off nor a mark from 0 to 0xffffffff (expected off, decimal, or 0x followed by hex digits)", v)
	}
	return uint32(n), nil
}

// ParseKeepalive parses a PersistentKeepalive value: off, or 0 to 65535 seconds.
func ParseKeepalive(v string) (uint16, error) {
	if strings.EqualFold(v, "off") {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || !IsDigits(v) {
		return 0, fmt.Errorf("%q is neither off nor an interval from 0 to 65535 seconds", v)
	}
	return uint16(n), nil
}

// MinMTU and maxMTU bound the MTU key (MinMTU is IPv4's minimum).
const (
	MinMTU = 576
	maxMTU = 65535
)

func parseMTU(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || !IsDigits(v) || n < MinMTU || n > maxMTU {
		return 0, fmt.Errorf("%q is not a usable MTU (expected a number from %d to %d, e.g. 1420)", v, MinMTU, maxMTU)
	}
	return n, nil
}

// parseTable accepts off, auto (stored in lower case, as wg-quick compares
// them), a table number, or a table name from /etc/iproute2/rt_tables.
func parseTable(v string) (string, error) {
	if strings.EqualFold(v, "off") || strings.EqualFold(v, "auto") {
		return strings.ToLower(v), nil
	}
	if IsDigits(v) {
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return "", fmt.Errorf("%q is out of range (expected a routing table number up to 4294967295)", v)
		}
		return v, nil
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "", fmt.Errorf("%q is not a routing table (expected off, auto, a table number, or a table name)", v)
		}
	}
	return v, nil
}

// ParsePrefix parses ADDRESS[/BITS]; no /BITS means a single address. Host
// bits are kept as written: wg only warns about them.
func ParsePrefix(v string) (netip.Prefix, error) {
	bad := func() error {
		return fmt.Errorf("%q is not a valid IP prefix (expected ADDRESS[/BITS], e.g. 10.0.0.0/24)", v)
	}
	if strings.Contains(v, "/") {
		pfx, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, bad()
		}
		return pfx, nil
	}
	addr, err := netip.ParseAddr(v)
	if err != nil || addr.Zone() != "" {
		return netip.Prefix{}, bad()
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// validZone accepts an IPv6 scope that names an interface (or its index);
// netip takes any text after '%'.
func validZone(addr netip.Addr) bool {
	return addr.Zone() == "" || IsInterfaceName(addr.Zone())
}

// looksLikeNameserver is wg-quick's test for a DNS entry that is a
// nameserver rather than a search domain.
func looksLikeNameserver(v string) bool {
	if strings.Contains(v, ":") {
		return true
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '.' && (v[i] < '0' || v[i] > '9') {
			return false
		}
	}
	return true
}

// isSearchDomain accepts a domain name, or a routing-only domain with a
// leading '~' (including "~.") as systemd-resolved's resolvconf takes them.
func isSearchDomain(v string) bool {
	if rest, ok := strings.CutPrefix(v, "~"); ok {
		return rest == "." || isPlausibleHostname(rest)
	}
	return isPlausibleHostname(v)
}

// isPlausibleHostname accepts names DNS could resolve: dot-separated labels of
// letters, digits, '-' and '_', each 1 to 63 bytes, 253 in all, with an
// optional final dot. All-numeric names are not: they are broken IPv4s.
func isPlausibleHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	allNumeric := true
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
				allNumeric = false
			default:
				return false
			}
		}
	}
	return !allNumeric
}

// ParseEndpoint parses HOST:PORT or [IPv6]:PORT; without brackets the port is
// after the last ':'.
func ParseEndpoint(v string) (Endpoint, error) {
	const expected = "expected HOST:PORT or [IPv6]:PORT, e.g. vpn.example.com:51820"
	var host, port string
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return Endpoint{}, fmt.Errorf("%q has no matching ']' (%s)", v, expected)
		}
		host = v[1:end]
		rest := v[end+1:]
		if !strings.HasPrefix(rest, ":") {
			return Endpoint{}, fmt.Errorf("%q has no port after ']' (%s)", v, expected)
		}
		port = rest[1:]
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() || !validZone(addr) {
			return Endpoint{}, fmt.Errorf("%q: %q is not an IPv6 address (%s)", v, host, expected)
		}
	} else {
		i := strings.LastIndexByte(v, ':')
		if i < 0 {
			return Endpoint{}, fmt.Errorf("%q has no port (%s)", v, expected)
		}
		host, port = v[:i], v[i+1:]
		if addr, err := netip.ParseAddr(host); err != nil || !validZone(addr) {
			if strings.Contains(host, ":") || strings.Contains(host, "%") {
				return Endpoint{}, fmt.Errorf("%q: %q is not a valid IPv6 address (%s)", v, host, expected)
			}
			if !isPlausibleHostname(host) {
				return Endpoint{}, fmt.Errorf("%q: %q is neither an IP address nor a host name (%s)", v, host, expected)
			}
		}
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || !IsDigits(port) || n == 0 {
		return Endpoint{}, fmt.Errorf("%q: %q is not a port number (expected 1 to 65535)", v, port)
	}
	return Endpoint{Host: host, Port: uint16(n)}, nil
}

// errConfigFileName is wg-quick's rule for config file names.
var errConfigFileName = errors.New("the config file must be a valid interface name, followed by .conf")

// IsInterfaceName is wg-quick's ^[a-zA-Z0-9_=+.-]{1,15}$.
func IsInterfaceName(s string) bool {
	if len(s) < 1 || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_=+.-", c) >= 0) {
			return false
		}
	}
	return true
}

// interfaceNameFromPath applies (^|/)([a-zA-Z0-9_=+.-]{1,15})\.conf$.
func interfaceNameFromPath(path string) (string, bool) {
	base, ok := strings.CutSuffix(path, ".conf")
	if !ok {
		return "", false
	}
	// The regexp takes the longest valid suffix that starts after a '/' or
	// at the start: that is the base name, which must be valid whole.
	name := base
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		name = base[i+1:]
	}
	if !IsInterfaceName(name) {
		return "", false
	}
	return name, true
}

// maxMaxConnections bounds a service's MaxConnections: beyond it the cap protects nothing.
const maxMaxConnections = 1 << 20

// serviceKeys lists, per service section (normalised name), the keys it
// takes and which of them are required, following wireproxy.
var serviceKeys = map[string]struct{ allowed, required []string }{
	"socks5":          {allowed: []string{"BindAddress", "Username", "Password", "MaxConnections"}, required: []string{"BindAddress"}},
	"http":            {allowed: []string{"BindAddress", "Username", "Password", "MaxConnections"}, required: []string{"BindAddress"}},
	"tcpclienttunnel": {allowed: []string{"BindAddress", "Target", "MaxConnections"}, required: []string{"BindAddress", "Target"}},
	"tcpservertunnel": {allowed: []string{"ListenPort", "Target", "MaxConnections"}, required: []string{"ListenPort", "Target"}},
	"udpproxytunnel":  {allowed: []string{"BindAddress", "Target", "InactivityTimeout"}, required: []string{"BindAddress", "Target"}},
}

func (p *parser) serviceKey(n int, key, norm, value string) error {
	i := len(p.cfg.Services) - 1
	s := &p.cfg.Services[i]
	spec := serviceKeys[NormalizeName(s.Name)]
	canonical := ""
	for _, k := range spec.allowed {
		if strings.ToLower(k) == norm {
			canonical = k
		}
	}
	if canonical == "" {
		return p.errorf(n, key, "unknown key in [%s] (valid keys: %s)", s.Name, strings.Join(spec.allowed, ", "))
	}
	if p.serviceSeen[i][norm] {
		return p.errorf(n, key, "%s is given twice in the [%s] on line %d (expected it once)", canonical, s.Name, s.Line)
	}
	p.serviceSeen[i][norm] = true
	if err := checkServiceValue(norm, value); err != nil {
		return p.errorf(n, key, "%v", err)
	}
	s.Options = append(s.Options, Option{Key: key, Value: value, Line: n})
	return nil
}

func checkServiceValue(norm, value string) error {
	switch norm {
	case "bindaddress", "target":
		host, port, ok := SplitHostPort(value)
		if !ok || host == "" && norm == "target" {
			return fmt.Errorf("%q is not HOST:PORT (expected e.g. 127.0.0.1:1080 or [::1]:1080)", value)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || !IsDigits(port) || n == 0 && norm == "target" {
			return fmt.Errorf("%q: %q is not a port number (expected 1 to 65535)", value, port)
		}
	case "listenport":
		if n, err := strconv.ParseUint(value, 10, 16); err != nil || !IsDigits(value) || n == 0 {
			return fmt.Errorf("%q is not a port number (expected 1 to 65535)", value)
		}
	case "maxconnections":
		if n, err := strconv.ParseUint(value, 10, 31); err != nil || !IsDigits(value) || n == 0 || n > maxMaxConnections {
			return fmt.Errorf("%q is not a number of connections (expected 1 to %d; the default is %d)", value, maxMaxConnections, services.DefaultMaxConnections)
		}
	case "inactivitytimeout":
		if _, err := strconv.ParseUint(value, 10, 31); err != nil || !IsDigits(value) {
			return fmt.Errorf("%q is not a number of seconds (expected e.g. 60)", value)
		}
	}
	return nil
}

// SplitHostPort splits HOST:PORT and [HOST]:PORT; HOST may be empty (any
// address).
func SplitHostPort(v string) (host, port string, ok bool) {
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 || !strings.HasPrefix(v[end+1:], ":") {
			return "", "", false
		}
		return v[1:end], v[end+2:], v[1:end] != ""
	}
	i := strings.LastIndexByte(v, ':')
	if i < 0 || strings.Contains(v[:i], ":") {
		return "", "", false
	}
	return v[:i], v[i+1:], true
}

func (p *parser) checkService(s Section, seen map[string]bool) error {
	spec := serviceKeys[NormalizeName(s.Name)]
	for _, k := range spec.required {
		if !seen[strings.ToLower(k)] {
			return p.errorf(s.Line, "", "[%s] has no %s (it is required; valid keys: %s)", s.Name, k, strings.Join(spec.allowed, ", "))
		}
	}
	return nil
}
