package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// KeyLen is the length of a WireGuard key in bytes.
const KeyLen = 32

// Key is a Curve25519 private or public key, or a preshared key.
// The zero Key means "no key".
type Key [KeyLen]byte

// ErrInvalidKey is returned for text that is not a WireGuard key.
var ErrInvalidKey = errors.New("key is not the correct length or format")

// ParseKey parses a key in wg's base64 form with wg's strictness: exactly 44
// characters, '=' last, standard alphabet, and the two unused low bits of the
// last symbol zero (so every key has exactly one text form).
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 44 || s[43] != '=' {
		return k, ErrInvalidKey
	}
	// Decoded on the stack: a hub's file has thousands of keys, and
	// Strict() and DecodeString each allocate.
	var text [44]byte
	var b [33]byte
	copy(text[:], s)
	n, err := strictBase64.Decode(b[:], text[:])
	if err != nil || n != KeyLen {
		return k, ErrInvalidKey
	}
	copy(k[:], b[:n])
	return k, nil
}

// strictBase64 is the standard encoding, rejecting non-zero unused bits.
var strictBase64 = base64.StdEncoding.Strict()

// ParseHexKey parses the 64-hex-digit form used by the UAPI protocol.
func ParseHexKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*KeyLen {
		return k, ErrInvalidKey
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, ErrInvalidKey
	}
	return k, nil
}

// String returns the base64 form, as wg prints keys.
func (k Key) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// Hex returns the lowercase hex form used by the UAPI protocol.
func (k Key) Hex() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k is the zero key ("no key").
func (k Key) IsZero() bool { return k == Key{} }

// Clamp returns k clamped as a Curve25519 private key, as the kernel and
// wireguard-go store it.
func (k Key) Clamp() Key {
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k
}

// PublicKey derives the public key of private key k.
func (k Key) PublicKey() Key {
	var pub Key
	priv := k.Clamp()
	curve25519.ScalarBaseMult((*[32]byte)(&pub), (*[32]byte)(&priv))
	return pub
}

// GeneratePrivateKey returns a new random, clamped private key.
func GeneratePrivateKey() (SecretKey, error) {
	k, err := randomKey()
	return k.Clamp().Secret(), err
}

// GeneratePresharedKey returns 32 random bytes as a preshared key.
func GeneratePresharedKey() (SecretKey, error) {
	k, err := randomKey()
	return k.Secret(), err
}

func randomKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("reading random bytes: %w", err)
	}
	return k, nil
}
