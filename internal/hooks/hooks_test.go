package hooks

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunHooksOrderAndSubstitution(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), "PostUp", "wg7", []string{"echo one %i", "echo two # kept"}, &out)
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
	err := Run(context.Background(), "PreUp", "wg0", []string{"false", "echo never"}, &out)
	if err == nil || !strings.Contains(err.Error(), "PreUp hook `false' failed") {
		t.Fatalf("err = %v, want a PreUp failure naming the hook", err)
	}
	if strings.Contains(out.String(), "never") {
		t.Fatalf("a hook after the failing one ran: %q", out.String())
	}
}

// wg-quick evaluates hooks in bash, so hooks written for it may use bash's
// syntax.
func TestRunHooksUsesBash(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash here")
	}
	var out bytes.Buffer
	err := Run(context.Background(), "PostUp", "wg0", []string{`[[ %i == wg* ]] && echo "bash ${BASH_VERSINFO[0]}"`}, &out)
	if err != nil || !strings.Contains(out.String(), "\nbash ") {
		t.Fatalf("err %v, output %q: want the hook run by bash", err, out.String())
	}
}

func TestHostNetworkOnly(t *testing.T) {
	for cmd, want := range map[string]bool{
		"sysctl -w net.ipv4.ip_forward=1":          true,
		"sysctl -q net.ipv6.conf.all.forwarding=1": true,
		"sysctl -w kernel.panic=1":                 false,
		"sysctl -p":                                false,
		"iptables -A FORWARD -i wg0 -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE":  true,
		"ip6tables -D FORWARD -i wg0 -j ACCEPT || true":                                               true,
		"/usr/sbin/iptables-nft -A INPUT -p udp --dport 51820 -j ACCEPT":                              true,
		"nft add table inet wgu && nft 'add chain inet wgu c'":                                        true,
		"ip route add 10.9.0.0/24 dev wg0 2>/dev/null":                                                true,
		"ip -6 rule add table 51820":                                                                  true,
		"resolvconf -a tun.wg0 -m 0 -x":                                                               true,
		"sudo iptables -A FORWARD -i wg0 -j ACCEPT":                                                   true,
		"echo 1 > /proc/sys/net/ipv4/ip_forward":                                                      true,
		"iptables -t nat -A POSTROUTING -o $(ip route show default | awk '{print $5}') -j MASQUERADE": true,
		"echo hello":                          false,
		"true":                                false,
		"iptables-save > /etc/iptables.rules": false,
		"ip netns exec other touch /tmp/x":    false,
		"iptables -A FORWARD -j ACCEPT; curl -fsS http://10.0.0.1/": false,
		"wg set wg0 peer abc= allowed-ips 10.0.0.9/32":              false,
		"$IPT -A FORWARD -j ACCEPT":                                 false,
		"(iptables -A FORWARD -j ACCEPT)":                           false,
		"if true; then iptables -A FORWARD -j ACCEPT; fi":           false,
		"iptables -A FORWARD -j ACCEPT 'unclosed":                   false,
		"echo permission denied; false":                             false,
		"systemctl restart dnsmasq":                                 false,
	} {
		if got := HostNetworkOnly(cmd); got != want {
			t.Errorf("HostNetworkOnly(%q) = %v, want %v", cmd, got, want)
		}
	}
}

// fakeTools puts scripts named like the host network tools first in PATH;
// each leaves a marker when run. The netstack decision must not run them,
// nor depend on what PATH finds.
func fakeTools(t *testing.T, names ...string) (marker string) {
	t.Helper()
	dir := t.TempDir()
	marker = filepath.Join(dir, "ran")
	for _, n := range names {
		script := "#!/bin/sh\necho " + n + " >> " + marker + "\n"
		if err := os.WriteFile(filepath.Join(dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return marker
}

func TestHookRunnerNetstackSkipsHostNetworkHooks(t *testing.T) {
	marker := fakeTools(t, "sysctl", "iptables")
	var out bytes.Buffer
	h := Runner{Out: &out, SkipHostNetwork: true}
	err := h.Run(context.Background(), "PostUp", "wg0", []string{
		"sysctl -w net.ipv4.ip_forward=1",
		"iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE",
		"echo custom %i",
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(marker); err == nil {
		t.Errorf("host network tools ran in netstack mode: %s", b)
	}
	want := "[-] PostUp hook skipped (netstack mode: it only configures the host's network): sysctl -w net.ipv4.ip_forward=1\n" +
		"[-] PostUp hook skipped (netstack mode: it only configures the host's network): iptables -A FORWARD -i wg0 -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE\n" +
		"[#] echo custom wg0\ncustom wg0\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}

	// A kernel TUN runs the same hooks.
	out.Reset()
	if err := (Runner{Out: &out}).Run(context.Background(), "PostUp", "wg0", []string{"sysctl -w net.ipv4.ip_forward=1"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(marker); string(b) != "sysctl\n" {
		t.Errorf("TUN mode: marker %q, want the hook run", b)
	}
}

// A hook that is not host-network only runs in netstack mode and its
// failure counts, whatever it prints.
func TestHookRunnerNetstackFailsOtherHooks(t *testing.T) {
	var out bytes.Buffer
	err := Runner{Out: &out, SkipHostNetwork: true}.Run(context.Background(), "PostUp", "wg0",
		[]string{"echo 'sysctl: permission denied on key'; exit 1", "echo never"})
	if err == nil || !strings.Contains(err.Error(), "PostUp hook `echo 'sysctl: permission denied on key'; exit 1' failed") {
		t.Fatalf("err = %v, want the hook's failure", err)
	}
	if strings.Contains(out.String(), "never") {
		t.Errorf("the stage went on after a failure: %q", out.String())
	}
}

// Without any shell (a FROM scratch image), host-network hooks are still
// skipped in netstack mode; any other hook fails saying why.
func TestHookRunnerWithoutShell(t *testing.T) {
	var out bytes.Buffer
	h := Runner{Out: &out, SkipHostNetwork: true, Shell: filepath.Join(t.TempDir(), "no-such-shell")}
	if err := h.Run(context.Background(), "PostUp", "wg0", []string{"sysctl -w net.ipv4.ip_forward=1", "iptables -A FORWARD -i %i -j ACCEPT"}); err != nil {
		t.Fatalf("host-network hooks without a shell: %v", err)
	}
	err := h.Run(context.Background(), "PostUp", "wg0", []string{"touch /tmp/never"})
	if !errors.Is(err, ErrNoShell) || !strings.Contains(err.Error(), "PostUp hook `touch /tmp/never' cannot run: no shell") {
		t.Fatalf("err = %v, want ErrNoShell naming the hook", err)
	}
	h.SkipHostNetwork = false
	if err := h.Run(context.Background(), "PostUp", "wg0", []string{"sysctl -w net.ipv4.ip_forward=1"}); !errors.Is(err, ErrNoShell) {
		t.Fatalf("TUN mode without a shell: err = %v, want ErrNoShell", err)
	}
}
