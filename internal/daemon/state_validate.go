package daemon

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrBadState is wrapped by ReadState's errors for a state file that exists
// but must not be acted on: in an untrusted place, or with a field wgu
// would never have written.
var ErrBadState = errors.New("state file refused")

// maxPID is Linux's PID_MAX_LIMIT: no PID is larger.
const maxPID = 1 << 22

// Validate checks every field of a state read from disk against what wgu
// itself writes, so that `down` never passes a hostile value to nft,
// resolvconf, netlink, a shell or kill(2). name is the interface the file
// is named after.
func (s *State) Validate(name string) error {
	if s.PID <= 1 || s.PID >= maxPID {
		return fmt.Errorf("pid %d is not a daemon's", s.PID)
	}
	if s.Mode != "tun" && s.Mode != "netstack" {
		return fmt.Errorf("mode %q: expected tun or netstack", s.Mode)
	}
	if p := s.ConfigPath; p != "" && (!filepath.IsAbs(p) || filepath.Clean(p) != p || hasControl(p)) {
		return fmt.Errorf("config_path %q: expected a clean absolute path", p)
	}
	if s.Host != nil {
		if s.Mode != "tun" {
			return fmt.Errorf("host changes recorded for a %s tunnel", s.Mode)
		}
		if err := s.Host.Validate(name); err != nil {
			return err
		}
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
