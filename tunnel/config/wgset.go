package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrInvalidArgument is wrapped by SetArgsUAPI's errors about its arguments.
var ErrInvalidArgument = errors.New("invalid argument")

// setPeer is one `peer PUB ...` group of `wg set`.
type setPeer struct {
	key          Key
	remove       bool
	psk          *Key
	endpoint     string
	keepalive    *uint16
	setIPs       bool
	replaceIPs   bool
	allowedLines []string // allowed_ip values, "-" prefixed for removals
}

// SetArgs turns the arguments of `wg set IFACE ...` (after the
// interface name) into a UAPI set body, with wg's syntax and meaning:
//
//	[listen-port P] [fwmark M] [private-key FILE]
//	[peer PUB [remove] [preshared-key FILE] [endpoint H:P]
//	     [persistent-keepalive N|off] [allowed-ips [+|-]ip[/cidr],...]]...
//
// Device options must come before the first peer. Key files follow wg's
// rules (an empty file means no key). allowed-ips replaces the peer's list
// unless an entry has a + or - prefix, which adds or removes that entry
// only. Endpoint names are resolved with r.
func SetArgs(ctx context.Context, r Resolver, args []string) (string, error) {
	var b strings.Builder
	var peers []*setPeer
	var cur *setPeer
	invalid := func(arg string) error {
		return fmt.Errorf("%w: %s", ErrInvalidArgument, arg)
	}
	for len(args) > 0 {
		opt := args[0]
		hasValue := len(args) >= 2
		switch {
		case opt == "listen-port" && hasValue && cur == nil:
			port, err := parseListenPort(args[1])
			if err != nil {
				return "", fmt.Errorf("listen-port: %w", err)
			}
			b.WriteString("listen_port=" + strconv.FormatUint(uint64(port), 10) + "\n")
		case opt == "fwmark" && hasValue && cur == nil:
			mark, err := parseFwMark(args[1])
			if err != nil {
				return "", fmt.Errorf("fwmark: %w", err)
			}
			b.WriteString("fwmark=" + strconv.FormatUint(uint64(mark), 10) + "\n")
		case opt == "private-key" && hasValue && cur == nil:
			k, err := ReadKeyFile(args[1])
			if err != nil {
				return "", fmt.Errorf("private-key: %w", err)
			}
			b.WriteString("private_key=" + k.Hex() + "\n")
		case opt == "peer" && hasValue:
			k, err := ParseKey(args[1])
			if err != nil {
				return "", fmt.Errorf("Key is not the correct length or format: `%s'", args[1])
			}
			cur = &setPeer{key: k}
			peers = append(peers, cur)
		case opt == "remove" && cur != nil:
			cur.remove = true
			args = args[1:]
			continue
		case opt == "endpoint" && hasValue && cur != nil:
			cur.endpoint = args[1]
		case opt == "allowed-ips" && hasValue && cur != nil:
			if err := cur.parseAllowedIPs(args[1]); err != nil {
				return "", err
			}
		case opt == "persistent-keepalive" && hasValue && cur != nil:
			k, err := ParseKeepalive(args[1])
			if err != nil {
				return "", fmt.Errorf("persistent-keepalive: %w", err)
			}
			cur.keepalive = &k
		case opt == "preshared-key" && hasValue && cur != nil:
			k, err := ReadKeyFile(args[1])
			if err != nil {
				return "", fmt.Errorf("preshared-key: %w", err)
			}
			cur.psk = &k
		default:
			return "", invalid(opt)
		}
		args = args[2:]
	}
	for _, p := range peers {
		if err := p.write(ctx, r, &b); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func (p *setPeer) parseAllowedIPs(list string) error {
	p.setIPs, p.replaceIPs, p.allowedLines = true, true, nil
	if trimSpace(list) == "" {
		return nil // allowed-ips '' clears the list
	}
	for _, v := range strings.Split(list, ",") {
		v = trimSpace(v)
		prefix := ""
		if v != "" && (v[0] == '+' || v[0] == '-') {
			p.replaceIPs = false
			if v[0] == '-' {
				prefix = "-"
			}
			v = v[1:]
		}
		pfx, err := ParsePrefix(v)
		if err != nil {
			return fmt.Errorf("allowed-ips: %w", err)
		}
		p.allowedLines = append(p.allowedLines, prefix+pfx.String())
	}
	return nil
}

func (p *setPeer) write(ctx context.Context, r Resolver, b *strings.Builder) error {
	b.WriteString("public_key=" + p.key.Hex() + "\n")
	if p.remove {
		b.WriteString("remove=true\n")
	}
	if p.psk != nil {
		b.WriteString("preshared_key=" + p.psk.Hex() + "\n")
	}
	if p.endpoint != "" {
		e, err := ParseEndpoint(p.endpoint)
		if err != nil {
			return fmt.Errorf("endpoint: %w", err)
		}
		ap, err := ResolveEndpoint(ctx, r, e)
		if err != nil {
			return fmt.Errorf("endpoint %s: %w", p.endpoint, err)
		}
		b.WriteString("endpoint=" + ap.String() + "\n")
	}
	if p.keepalive != nil {
		b.WriteString("persistent_keepalive_interval=" + strconv.FormatUint(uint64(*p.keepalive), 10) + "\n")
	}
	if p.setIPs && p.replaceIPs {
		b.WriteString("replace_allowed_ips=true\n")
	}
	for _, a := range p.allowedLines {
		b.WriteString("allowed_ip=" + a + "\n")
	}
	return nil
}

// keyFileLen is the length of a base64 key.
const keyFileLen = 44

// ReadKeyFile reads a key file as wg does: 44 characters of base64, then
// only whitespace. An empty file (such as /dev/null) is the zero key, which
// removes a private or preshared key.
func ReadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("reading key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<16))
	if err != nil {
		return Key{}, fmt.Errorf("reading key file %s: %w", path, err)
	}
	if len(b) == 0 {
		return Key{}, nil
	}
	if len(b) < keyFileLen {
		return Key{}, errors.New("Invalid length key in key file")
	}
	for _, c := range b[keyFileLen:] {
		if !isSpace(rune(c)) {
			return Key{}, fmt.Errorf("Found trailing character in key file: `%c'", c)
		}
	}
	k, err := ParseKey(string(b[:keyFileLen]))
	if err != nil {
		// The key is a secret: do not echo it.
		return Key{}, fmt.Errorf("key file %s: Key is not the correct length or format", path)
	}
	return k, nil
}
