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
