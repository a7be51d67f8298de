//go:build !linux

package pathmtu

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Probe is only implemented on Linux.
func Probe(netip.AddrPort, int, int, time.Duration) (int, error) {
	return 0, errors.New("path MTU probes are only implemented on Linux")
}

// ProbeContext is only implemented on Linux.
func ProbeContext(context.Context, netip.AddrPort, int, int, time.Duration) (int, error) {
	return Probe(netip.AddrPort{}, 0, 0, 0)
}
