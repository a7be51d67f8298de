package tunnel

import (
	"context"
	"errors"
	"net/netip"
)

// fakeResolver answers from a map and records what it was asked.
type fakeResolver struct {
	answers map[string][]netip.Addr
	asked   []string
}

var errNoSuchHost = errors.New("no such host")

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.asked = append(r.asked, network+" "+host)
	addrs, ok := r.answers[host]
	if !ok {
		return nil, errNoSuchHost
	}
	return addrs, nil
}
