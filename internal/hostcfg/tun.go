package hostcfg

import (
	"fmt"

	"github.com/wgu-project/wgu/tunnel/config"
	"golang.zx2c4.com/wireguard/tun"
)

// DefaultMTU is wg-quick's MTU when no endpoint tells a better one; the TUN
// starts with it and Configure sets the final value.
const DefaultMTU = 1420

// CreateTUN opens a kernel TUN named after the interface, with wireguard-go's
// Linux offloads (GSO/GRO) that it negotiates by itself.
func CreateTUN(cfg *config.Config) (tun.Device, error) {
	mtu := cfg.Interface.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	dev, err := tun.CreateTUN(cfg.Name, mtu)
	if err != nil {
		return nil, fmt.Errorf("creating TUN %s: %w", cfg.Name, err)
	}
	return newCoalesceApart(dev), nil
}
