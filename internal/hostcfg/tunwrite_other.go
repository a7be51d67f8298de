//go:build !linux

package hostcfg

import "golang.zx2c4.com/wireguard/tun"

// newCoalesceApart: only Linux TUNs coalesce writes in the caller's buffers.
func newCoalesceApart(dev tun.Device) tun.Device { return dev }
