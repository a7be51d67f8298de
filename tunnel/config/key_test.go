package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseKeyStrictness(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{testPriv, true},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", true},
		{"/////////////////////////////////////////38=", true},
		{testPriv[:43], false},           // no '='
		{testPriv + "=", false},          // too long
		{testPriv[:42] + "==", false},    // '=' too early
		{testPriv[:42] + "1=", false},    // unused low bits set ('1' is 53 = 0b110101)
		{testPriv[:42] + "B=", false},    // 'B' is 1: low bits set
		{testPriv[:42] + "E=", true},     // 'E' is 4: low bits clear
		{"-" + testPriv[1:], false},      // URL alphabet
		{"_" + testPriv[1:], false},      // URL alphabet
		{" " + testPriv[1:], false},      // space
		{strings.Repeat("A", 44), false}, // no '=' at the end
		{"", false},
	}
	for _, tt := range tests {
		k, err := ParseKey(tt.in)
		if tt.ok {
			if err != nil {
				t.Errorf("ParseKey(%q) = %v", tt.in, err)
			} else if k.String() != tt.in {
				t.Errorf("ParseKey(%q).String() = %q", tt.in, k.String())
			}
			continue
		}
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParseKey(%q) = %v, %v; want ErrInvalidKey", tt.in, k, err)
		}
	}
}

// The public keys were computed with `wg pubkey`.
func TestPublicKeyMatchesWg(t *testing.T) {
	for priv, pub := range map[string]string{
		testPriv: testPub,
		"YNQpNHTtJ2KDnKP6ZmyZ8bqe37PFTS+1Nf5QXfwP4mc=": "ukLL5cp00wwel30rxKStJBDoopTH5eT1IIv8LvJvnG0=",
		// Unclamped inputs: wg clamps before multiplying.
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=": "L+V9o0fNYkMVKNqsX7spBzD/9oSvxM/C7ZCZX1jLO3Q=",
		"/////////////////////////////////////////38=": "hHwNLDdSNPNl5mCVUYejc1oPdhPRYJ06ak2MU66qWiI=",
	} {
		if got := mustKey(t, priv).PublicKey().String(); got != pub {
			t.Errorf("PublicKey(%s) = %s, want %s", priv, got, pub)
		}
	}
}

func TestHexKeyRoundTrip(t *testing.T) {
	k := mustKey(t, testPSK)
	back, err := ParseHexKey(k.Hex())
	if err != nil || back != k {
		t.Errorf("ParseHexKey(Hex()) = %v, %v", back, err)
	}
	if _, err := ParseHexKey(k.Hex()[:63]); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("short hex key: %v", err)
	}
	if _, err := ParseHexKey(strings.Repeat("g", 64)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("non-hex key: %v", err)
	}
}
