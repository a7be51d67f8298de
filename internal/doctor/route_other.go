//go:build !linux

package doctor

import (
	"errors"
	"net/netip"
)

// kernelNet knows no routes outside Linux: the checks that need one skip.
type kernelNet struct{}

func (kernelNet) Route(netip.Addr) (Route, error) {
	return Route{}, errors.New("route lookups are only implemented on Linux")
}
