//go:build !linux

package hostcfg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// Configure needs Linux (netlink, nftables, policy routing).
func Configure(ctx context.Context, log *slog.Logger, p Params) (*State, error) {
	return nil, fmt.Errorf("configuring the host around %s: %w", p.Interface, errors.ErrUnsupported)
}

// Undo has nothing to undo where Configure never changed anything.
func (s *State) Undo(ctx context.Context, log *slog.Logger) error { return nil }

// Reconfigure needs Linux, as Configure does.
func (s *State) Reconfigure(ctx context.Context, log *slog.Logger, p Params) error {
	return fmt.Errorf("reconfiguring the host around %s: %w", p.Interface, errors.ErrUnsupported)
}

// Validate refuses a recorded state: none is ever written off Linux.
func (s *State) Validate(name string) error {
	return fmt.Errorf("host state of %s: %w", name, errors.ErrUnsupported)
}

// OpenTUN is for handing a TUN to a daemon child, which only Linux does.
func OpenTUN(name string) (*os.File, string, error) {
	return nil, "", fmt.Errorf("creating TUN %s: %w", name, errors.ErrUnsupported)
}

// TUNFileFromFD is for an inherited TUN descriptor, which only Linux uses.
func TUNFileFromFD(fd int) (*os.File, string, error) {
	return nil, "", fmt.Errorf("TUN descriptor %d: %w", fd, errors.ErrUnsupported)
}
