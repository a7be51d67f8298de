package peerbook

import (
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// PeerView is a peer of the hub's file with its live state, for listings
// (`wgu peer list`, the management page).
type PeerView struct {
	PeerEntry
	Live          bool      // the running tunnel has this peer
	InFile        bool      // false: added at run time (wg set) and not in the file
	Endpoint      string    // the client's current address, "" when unknown
	LastHandshake time.Time // zero: never
	RxBytes       uint64
	TxBytes       uint64
}

// PeerViews joins the file's entries with the device's status (st may be
// nil): file order first, then peers only the device has.
func PeerViews(entries []PeerEntry, st *uapi.Status) []PeerView {
	live := map[config.Key]uapi.PeerStatus{}
	if st != nil {
		for _, p := range st.Peers {
			live[p.PublicKey] = p
		}
	}
	out := make([]PeerView, 0, len(entries))
	seen := map[config.Key]bool{}
	for _, e := range entries {
		v := PeerView{PeerEntry: e, InFile: true}
		if p, ok := live[e.PublicKey]; ok && !e.Disabled {
			v.Live, v.Endpoint, v.LastHandshake, v.RxBytes, v.TxBytes = true, p.Endpoint.String(), p.LastHandshake, p.RxBytes, p.TxBytes
		}
		seen[e.PublicKey] = true
		out = append(out, v)
	}
	if st != nil {
		for _, p := range st.Peers {
			if seen[p.PublicKey] {
				continue
			}
			out = append(out, PeerView{PeerEntry: PeerEntry{PublicKey: p.PublicKey, AllowedIPs: p.AllowedIPs}, Live: true,
				Endpoint: p.Endpoint.String(), LastHandshake: p.LastHandshake, RxBytes: p.RxBytes, TxBytes: p.TxBytes})
		}
	}
	return out
}
