package main

import (
	"slices"
	"testing"
)

func TestFlagsFirst(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"wgu", "addpeer", "wg0", "KEY", "--allowed-ips", "10.0.0.3/32"}, []string{"wgu", "addpeer", "--allowed-ips", "10.0.0.3/32", "--", "wg0", "KEY"}},
		{[]string{"wgu", "peer", "add", "wg0", "phone", "--qr", "--out=p.png", "--psk"}, []string{"wgu", "peer", "add", "--qr", "--out=p.png", "--psk", "--", "wg0", "phone"}},
		{[]string{"wgu", "peer", "list", "--run-dir", "/r", "wg0"}, []string{"wgu", "peer", "list", "--run-dir", "/r", "--", "wg0"}},
		{[]string{"wgu", "show", "wg0", "--x"}, []string{"wgu", "show", "wg0", "--x"}},
	} {
		if got := flagsFirst(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("flagsFirst(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
