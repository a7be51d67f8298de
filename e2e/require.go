package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequiredEnv names the environment variable that turns missing
// prerequisites from a skip into a failure: WGU_E2E=required (for CI).
const RequiredEnv = "WGU_E2E"

// RequireE2E skips tb (or fails it, with WGU_E2E=required) unless this
// machine can run the end-to-end tests: root, /dev/net/tun, and the tools
// ip, wg, nft, ping and sysctl.
func RequireE2E(tb testing.TB) {
	tb.Helper()
	if reason := MissingPrerequisite("wg", "nft", "ping", "sysctl"); reason != "" {
		skipOrFail(tb, reason)
	}
}

// RequireLab is RequireE2E without wireguard-tools: enough for a Lab.
func RequireLab(tb testing.TB) {
	tb.Helper()
	if reason := MissingPrerequisite("nft", "ping", "sysctl"); reason != "" {
		skipOrFail(tb, reason)
	}
}

func skipOrFail(tb testing.TB, reason string) {
	tb.Helper()
	if os.Getenv(RequiredEnv) == "required" {
		tb.Fatalf("end-to-end prerequisites missing (%s=required): %s", RequiredEnv, reason)
	}
	tb.Skipf("end-to-end prerequisites missing: %s (set %s=required to fail instead)", reason, RequiredEnv)
}

// MissingPrerequisite returns why a lab cannot run here (not root, no
// /dev/net/tun, ip or one of tools missing from PATH), or "".
func MissingPrerequisite(tools ...string) string {
	if os.Geteuid() != 0 {
		return "not running as root"
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("%s not found in PATH", tool)
		}
	}
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return fmt.Sprintf("cannot open /dev/net/tun: %v", err)
	}
	f.Close()
	return ""
}
