package hostcfg

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// sendRedirectsAllPath is the namespace-wide switch for ICMP redirects. The
// kernel sends a redirect when a forwarded packet leaves by the interface
// it came in on and either this or the interface's own send_redirects is
// 1, so both must be 0 for a hub routing between its peers on one
// interface.
const sendRedirectsAllPath = "/proc/sys/net/ipv4/conf/all/send_redirects"

// setLinkSysctls makes the TUN behave as kernel WireGuard makes its own
// interface behave when it is opened:
//   - no ICMP redirects (send_redirects=0 on the link and for all): a
//     redirect between peers of one interface is useless, as only the hub
//     can reach them, and every spoke-to-spoke ping would show one;
//   - no IPv6 link-local address (addr_gen_mode=1, none, set before the
//     link goes up): WireGuard has no link layer to address, and without
//     one the kernel sends no IPv6 redirects and no router solicitations
//     into the tunnel either.
//
// The link's own settings go away with the link; the namespace-wide
// send_redirects is recorded and restored by Undo (kernel WireGuard leaves
// it at 0). accept_redirects is left alone, as the kernel does.
func (s *State) setLinkSysctls(log *slog.Logger) error {
	if err := writeSysctl(log, "net/ipv4/conf/"+s.Link+"/send_redirects", "0"); err != nil {
		return err
	}
	err := writeSysctl(log, "net/ipv6/conf/"+s.Link+"/addr_gen_mode", "1")
	if err != nil && !errors.Is(err, os.ErrNotExist) { // no IPv6 on this host
		return err
	}
	if p := s.prev; p != nil && p.SendRedirectsChanged {
		s.SendRedirectsChanged, s.SendRedirectsOld = true, p.SendRedirectsOld
		p.SendRedirectsChanged, p.SendRedirectsOld = false, ""
	}
	b, err := os.ReadFile(sendRedirectsAllPath)
	if err != nil {
		return fmt.Errorf("reading net.ipv4.conf.all.send_redirects: %w", err)
	}
	old := strings.TrimSpace(string(b))
	if old == "0" {
		return nil
	}
	if err := writeSysctl(log, "net/ipv4/conf/all/send_redirects", "0"); err != nil {
		return err
	}
	if !s.SendRedirectsChanged {
		s.SendRedirectsChanged, s.SendRedirectsOld = true, old
	}
	return nil
}

func (s *State) restoreSendRedirects(log *slog.Logger) error {
	if !s.SendRedirectsChanged {
		return nil
	}
	if err := writeSysctl(log, "net/ipv4/conf/all/send_redirects", s.SendRedirectsOld); err != nil {
		return err
	}
	s.SendRedirectsChanged, s.SendRedirectsOld = false, ""
	return nil
}

// writeSysctl sets the sysctl at /proc/sys/key (key with slashes, since an
// interface name may hold dots).
func writeSysctl(log *slog.Logger, key, value string) error {
	name := strings.ReplaceAll(key, "/", ".")
	log.Info("setting sysctl", "key", name, "value", value)
	if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("setting sysctl %s=%s: %w", name, value, err)
	}
	return nil
}
