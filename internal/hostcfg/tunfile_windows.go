package hostcfg

import (
	"errors"
	"fmt"
	"os"

	"golang.zx2c4.com/wireguard/tun"
)

// TUNFromFile: Windows has no TUN descriptors to hand over (wintun adapters
// are opened by name).
func TUNFromFile(f *os.File, mtu int) (tun.Device, error) {
	return nil, fmt.Errorf("TUN from a descriptor: %w", errors.ErrUnsupported)
}
