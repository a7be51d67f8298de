//go:build !linux

package doctor

import (
	"errors"
	"net/netip"
)

func probePathMTU(netip.AddrPort, int) (int, error) {
	return 0, errors.New("path MTU probes are only implemented on Linux")
}
