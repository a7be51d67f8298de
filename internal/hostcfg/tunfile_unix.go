//go:build unix

package hostcfg

import (
	"os"

	"golang.zx2c4.com/wireguard/tun"
)

// TUNFromFile runs a TUN device on a descriptor opened elsewhere (WG_TUN_FD).
func TUNFromFile(f *os.File, mtu int) (tun.Device, error) {
	dev, err := tun.CreateTUNFromFile(f, mtu)
	if err != nil {
		return nil, err
	}
	return newCoalesceApart(dev), nil
}
