package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Environment variables TestMain uses to hand the wgu binary to the tests.
const (
	binEnv      = "WGU_BIN"           // path of a wgu binary to test (set by the user, or by TestMain)
	binErrorEnv = "WGU_E2E_BUILD_ERR" // why TestMain could not build one
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(runTests(m))
}

// runTests builds wgu once for all tests (unless WGU_BIN names one, or the
// tests will skip anyway) and runs them.
func runTests(m *testing.M) int {
	if os.Getenv(binEnv) == "" && MissingPrerequisite() == "" {
		dir, err := os.MkdirTemp("", "wgu-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// Rootless tests run the binary as nobody (uid 65534).
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		bin := filepath.Join(dir, "wgu")
		args := []string{"build", "-o", bin}
		if raceBuild {
			// go test -race covers the daemons too: a race in wgu then shows in their stderr.
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "../cmd/wgu")...).CombinedOutput()
		if err != nil {
			os.Setenv(binErrorEnv, fmt.Sprintf("go build ../cmd/wgu: %v\n%s", err, out))
		} else {
			os.Setenv(binEnv, bin)
		}
	}
	return m.Run()
}

// wguBinary returns the wgu binary under test, failing t if there is none.
func wguBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(binEnv); bin != "" {
		return bin
	}
	if msg := os.Getenv(binErrorEnv); msg != "" {
		t.Fatal(msg)
	}
	t.Fatalf("no wgu binary: set %s", binEnv)
	return ""
}
