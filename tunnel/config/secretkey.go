package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// SecretKey is a private key or a preshared key: a Key that never prints itself. Its String, its Format (every
// fmt verb, %v %+v %#v %s %x included), GoString, MarshalJSON and LogValue all give "(redacted)" ("(none)" when
// it is zero), so a Config or a Status handed to fmt, log/slog or encoding/json shows no secret. The few places
// that must write the key itself (a config file, the UAPI, `wgu genkey`) ask for it with Reveal.
//
// The zero SecretKey means "no key". SecretKeys compare with ==.
type SecretKey struct {
	k Key
}

// Secret wraps k as a SecretKey.
func (k Key) Secret() SecretKey { return SecretKey{k} }

// ParseSecretKey parses a private or preshared key in wg's base64 form. Its error never contains s.
func ParseSecretKey(s string) (SecretKey, error) {
	k, err := ParseKey(s)
	return SecretKey{k}, err
}

// Reveal returns the key itself, for writing it where it belongs: a config file, the UAPI, `wgu genkey`'s output.
func (s SecretKey) Reveal() Key { return s.k }

// IsZero reports whether s is the zero key ("no key").
func (s SecretKey) IsZero() bool { return s.k.IsZero() }

// PublicKey derives the public key of private key s.
func (s SecretKey) PublicKey() Key { return s.k.PublicKey() }

const (
	redactedKey = "(redacted)"
	noKey       = "(none)"
)

func (s SecretKey) placeholder() string {
	if s.IsZero() {
		return noKey
	}
	return redactedKey
}

// String returns "(redacted)", or "(none)" for the zero key: never the key.
func (s SecretKey) String() string { return s.placeholder() }

// GoString is String, for %#v.
func (s SecretKey) GoString() string { return s.placeholder() }

// Format prints the placeholder whatever the verb, so no verb (%x, %d, %v ...) shows the key's bytes.
func (s SecretKey) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.placeholder()) }

// MarshalJSON encodes the placeholder as a JSON string.
func (s SecretKey) MarshalJSON() ([]byte, error) { return []byte(`"` + s.placeholder() + `"`), nil }

// LogValue gives log/slog the placeholder.
func (s SecretKey) LogValue() slog.Value { return slog.StringValue(s.placeholder()) }

// configFields is Config without its methods: what logs and JSON show of a Config. Config's MarshalText writes the
// config file, private key included, and both log/slog's text handler and encoding/json would otherwise use it.
type configFields Config

// LogValue shows the config's fields to log/slog, with keys redacted (see SecretKey), instead of its file text.
func (c *Config) LogValue() slog.Value { return slog.AnyValue(configFields(*c)) }

// MarshalJSON encodes the config's fields with keys redacted (see SecretKey); MarshalText is the way to write the
// config itself.
func (c *Config) MarshalJSON() ([]byte, error) { return json.Marshal((*configFields)(c)) }

// keyLikeRun is the shortest run of base64 (or hex) characters hideKeys takes for a key: a key is 44 characters
// in base64 and 64 in hex, and a mistyped one may have lost a few.
const keyLikeRun = 40

// hideKeys replaces every run of keyLikeRun or more base64 characters in s by "(key hidden)". Error messages that
// quote a malformed line use it: such a line ("PrivateKey: ...", a key pasted alone) may hold a secret.
func hideKeys(s string) string {
	var b strings.Builder
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		if end-start >= keyLikeRun {
			b.WriteString("(key hidden)")
		} else {
			b.WriteString(s[start:end])
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=' {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
		b.WriteByte(c)
	}
	flush(len(s))
	return b.String()
}
