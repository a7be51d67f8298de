package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/wgu-project/wgu/internal/daemon"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// The schema of `wgu show --json`, stable: fields are only ever added.
// Private and preshared keys never appear; has_preshared_key says whether
// a peer has one.
type jsonShow struct {
	Interfaces []jsonInterface `json:"interfaces"`
}

type jsonInterface struct {
	Name       string     `json:"name"`
	Mode       string     `json:"mode,omitempty"` // "tun" or "netstack" for wgu; absent for other daemons
	PID        int        `json:"pid,omitempty"`
	PublicKey  string     `json:"public_key,omitempty"`
	ListenPort uint16     `json:"listen_port"`
	FwMark     uint32     `json:"fwmark"`
	Peers      []jsonPeer `json:"peers"`
	Services   []string   `json:"services,omitempty"`
}

type jsonPeer struct {
	PublicKey           string   `json:"public_key"`
	HasPresharedKey     bool     `json:"has_preshared_key"`
	Endpoint            string   `json:"endpoint,omitempty"`
	AllowedIPs          []string `json:"allowed_ips"`
	LatestHandshake     int64    `json:"latest_handshake"` // Unix seconds; 0: never
	RxBytes             uint64   `json:"rx_bytes"`
	TxBytes             uint64   `json:"tx_bytes"`
	PersistentKeepalive uint16   `json:"persistent_keepalive"` // seconds; 0: off
}

func toJSONInterface(st *uapi.Status) jsonInterface {
	ji := jsonInterface{Name: st.Name, ListenPort: st.ListenPort, FwMark: st.FwMark, Peers: []jsonPeer{}}
	if !st.PrivateKey.IsZero() {
		ji.PublicKey = st.PrivateKey.PublicKey().String()
	}
	for _, p := range st.Peers {
		jp := jsonPeer{
			PublicKey:           p.PublicKey.String(),
			HasPresharedKey:     !p.PresharedKey.IsZero(),
			Endpoint:            p.Endpoint.String(),
			AllowedIPs:          []string{},
			RxBytes:             p.RxBytes,
			TxBytes:             p.TxBytes,
			PersistentKeepalive: p.PersistentKeepalive,
		}
		if !p.LastHandshake.IsZero() {
			jp.LatestHandshake = p.LastHandshake.Unix()
		}
		for _, pfx := range p.AllowedIPs {
			jp.AllowedIPs = append(jp.AllowedIPs, pfx.String())
		}
		ji.Peers = append(ji.Peers, jp)
	}
	return ji
}

// addControlInfo fills in what only wgu's control socket knows.
func addControlInfo(ctx context.Context, ji *jsonInterface, runDir string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, err := daemon.Dial(ctx, runDir, ji.Name)
	if err != nil {
		return
	}
	defer cl.Close()
	if rep, err := cl.Do(daemon.Request{Op: "info"}); err == nil {
		ji.Mode, ji.PID, ji.Services = string(rep.Mode), rep.PID, rep.Services
	}
}

func writeJSONShow(w io.Writer, v jsonShow) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
