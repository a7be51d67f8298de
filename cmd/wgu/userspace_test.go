package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseWireguardGoArgs(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		name       string
		foreground bool
		ok         bool
	}{
		{[]string{"wg0"}, "wg0", false, true},
		{[]string{"-f", "wg0"}, "wg0", true, true},
		{[]string{"--foreground", "wg0"}, "wg0", true, true},
		{nil, "", false, false},
		{[]string{"-f"}, "", false, false},
		{[]string{"wg0", "-f"}, "", false, false},
		{[]string{"-f", "wg0", "extra"}, "", false, false},
	} {
		name, fg, ok := parseWireguardGoArgs(tc.args)
		if name != tc.name || fg != tc.foreground || ok != tc.ok {
			t.Errorf("parseWireguardGoArgs(%q) = %q, %v, %v; want %q, %v, %v", tc.args, name, fg, ok, tc.name, tc.foreground, tc.ok)
		}
	}
}

func TestUserspaceVersionLayout(t *testing.T) {
	var b bytes.Buffer
	printUserspaceVersion(&b)
	lines := strings.Split(b.String(), "\n")
	// wireguard-go's layout: "NAME vVERSION", a blank line, then prose.
	if !strings.HasPrefix(lines[0], "wgu v") || strings.HasPrefix(lines[0], "wgu vv") || lines[1] != "" {
		t.Errorf("version output:\n%s", b.String())
	}
}
