package tunnel

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunHooksOrderAndSubstitution(t *testing.T) {
	var out bytes.Buffer
	err := RunHooks(context.Background(), "PostUp", "wg7", []string{"echo one %i", "echo two # kept"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "[#] echo one wg7\none wg7\n[#] echo two # kept\ntwo\n"
	if out.String() != want {
		t.Fatalf("output = %q, want %q", out.String(), want)
	}
}

func TestRunHooksStopsAtFirstFailure(t *testing.T) {
	var out bytes.Buffer
	err := RunHooks(context.Background(), "PreUp", "wg0", []string{"false", "echo never"}, &out)
	if err == nil || !strings.Contains(err.Error(), "PreUp hook `false' failed") {
		t.Fatalf("err = %v, want a PreUp failure naming the hook", err)
	}
	if strings.Contains(out.String(), "never") {
		t.Fatalf("a hook after the failing one ran: %q", out.String())
	}
}

func TestDeniedPrivilege(t *testing.T) {
	for out, want := range map[string]bool{
		`sysctl: permission denied on key "net.ipv4.ip_forward"`:                                                    true,
		"RTNETLINK answers: Operation not permitted":                                                                true,
		"iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)": true,
		"sh: 1: nosuchcommand: not found":                                                                           false,
	} {
		if got := deniedPrivilege(out); got != want {
			t.Errorf("deniedPrivilege(%q) = %v, want %v", out, got, want)
		}
	}
}
