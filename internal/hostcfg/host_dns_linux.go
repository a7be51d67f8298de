package hostcfg

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"

	"github.com/wgu-project/wgu/tunnel/config"
)

// interfaceOrderPath is Debian resolvconf's ordering of interfaces: the
// prefix wg-quick gives its name is taken from there.
const interfaceOrderPath = "/etc/resolvconf/interface-order"

// orderPattern matches an interface-order entry like "tun*".
var orderPattern = regexp.MustCompile(`^([A-Za-z0-9-]+)\*$`)

// setDNS hands the nameservers and search domains to resolvconf, as
// wg-quick does; without resolvconf, the tunnel comes up with a warning.
func (s *State) setDNS(ctx context.Context, log *slog.Logger, ifc config.Interface) error {
	if len(ifc.DNS) == 0 {
		// wg-quick ignores search domains without a nameserver.
		return nil
	}
	rc, err := exec.LookPath("resolvconf")
	if err != nil {
		log.Warn("resolvconf not found: the DNS settings of the config are not applied", "dev", s.Link)
		return nil
	}
	var in strings.Builder
	for _, ns := range ifc.DNS {
		fmt.Fprintf(&in, "nameserver %s\n", ns)
	}
	if len(ifc.DNSSearch) > 0 {
		fmt.Fprintf(&in, "search %s\n", strings.Join(ifc.DNSSearch, " "))
	}
	name := resolvconfPrefix(rc) + s.Link
	// Recorded first: if resolvconf fails half-way, `-d -f` is still right.
	s.Resolvconf = name
	if s.prev != nil && s.prev.Resolvconf == name {
		s.prev.Resolvconf = "" // `resolvconf -a` replaces the predecessor's entry
	}
	log.Info("setting DNS with resolvconf", "name", name)
	cmd := exec.CommandContext(ctx, rc, "-a", name, "-m", "0", "-x")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("running resolvconf -a %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (s *State) removeDNS(ctx context.Context, log *slog.Logger) error {
	if s.Resolvconf == "" {
		return nil
	}
	rc, err := exec.LookPath("resolvconf")
	if err != nil {
		return fmt.Errorf("removing DNS of %s: %w", s.Resolvconf, err)
	}
	log.Info("removing DNS with resolvconf", "name", s.Resolvconf)
	// -f: no error if resolvconf no longer knows the name.
	out, err := exec.CommandContext(ctx, rc, "-d", s.Resolvconf, "-f").CombinedOutput()
	if err != nil {
		return fmt.Errorf("running resolvconf -d %s: %w: %s", s.Resolvconf, err, strings.TrimSpace(string(out)))
	}
	s.Resolvconf = ""
	return nil
}

// resolvconfPrefix is the prefix wg-quick puts before the interface name so
// that Debian's resolvconf ranks it like a VPN ("tun."): the first NAME*
// entry of interface-order. Without that file (openresolv), or when
// resolvconf is a symlink (systemd's resolvectl), the name is bare.
func resolvconfPrefix(resolvconf string) string {
	if fi, err := os.Lstat(resolvconf); err != nil || fi.Mode()&os.ModeSymlink != 0 {
		return ""
	}
	f, err := os.Open(interfaceOrderPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := orderPattern.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			return m[1] + "."
		}
	}
	return ""
}
