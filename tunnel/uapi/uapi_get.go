package uapi

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
)

// Status is a device's live state, as the UAPI "get" operation reports it:
// the same facts `wg show` prints.
type Status struct {
	Name       string
	PrivateKey config.SecretKey
	ListenPort uint16
	FwMark     uint32
	Peers      []PeerStatus // in the order the device reported them
}

// PeerStatus is one peer of a Status.
type PeerStatus struct {
	config.Peer
	// Endpoint in Peer holds the current IP:port as the device reports it.
	LastHandshake time.Time // zero: never
	RxBytes       uint64
	TxBytes       uint64
}

// ErrProtocol is wrapped by errors in a UAPI conversation: a malformed reply or
// a non-zero errno.
var ErrProtocol = errors.New("UAPI protocol error")

// maxUAPILine bounds one line of a UAPI reply; the longest real one is a
// 64-digit hex key.
const maxUAPILine = 4096

// ParseStatus reads the reply to a UAPI "get=1" request, up to and
// including its "errno=N" line and the empty line after it, as wg does:
// device keys first, each "public_key" starting a peer, unknown keys
// ignored, and a non-zero errno an error.
func ParseStatus(r *bufio.Reader) (*Status, error) {
	st := &Status{}
	var peer *PeerStatus
	var hsSec, hsNsec int64
	finishPeer := func() {
		if peer != nil {
			if hsSec != 0 || hsNsec != 0 {
				peer.LastHandshake = time.Unix(hsSec, hsNsec)
			}
			st.Peers = append(st.Peers, *peer)
		}
		hsSec, hsNsec = 0, 0
	}
	for n := 1; ; n++ {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("%w: reply ended before errno (line %d): %v", ErrProtocol, n, err)
		}
		if len(line) > maxUAPILine {
			return nil, fmt.Errorf("%w: line %d is too long", ErrProtocol, n)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return nil, fmt.Errorf("%w: empty line %d before errno", ErrProtocol, n)
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%w: line %d: %q is not key=value", ErrProtocol, n, line)
		}
		if key == "errno" {
			code, err := strconv.ParseUint(value, 10, 31)
			if err != nil {
				return nil, fmt.Errorf("%w: errno %q", ErrProtocol, value)
			}
			if end, err := r.ReadString('\n'); err != nil || end != "\n" {
				return nil, fmt.Errorf("%w: no empty line after errno", ErrProtocol)
			}
			if code != 0 {
				return nil, fmt.Errorf("%w: device returned errno %d", ErrProtocol, code)
			}
			finishPeer()
			return st, nil
		}
		if err := applyStatusKey(st, &peer, &hsSec, &hsNsec, finishPeer, key, value); err != nil {
			return nil, fmt.Errorf("%w: line %d: %s: %v", ErrProtocol, n, key, err)
		}
	}
}

// applyStatusKey stores one key=value of a get reply.
func applyStatusKey(st *Status, peer **PeerStatus, hsSec, hsNsec *int64, finishPeer func(), key, value string) error {
	if key == "public_key" {
		k, err := config.ParseHexKey(value)
		if err != nil {
			return err
		}
		finishPeer()
		*peer = &PeerStatus{Peer: config.Peer{PublicKey: k}}
		return nil
	}
	if *peer == nil {
		switch key {
		case "private_key":
			k, err := config.ParseHexKey(value)
			if err != nil {
				return err
			}
			st.PrivateKey = k.Secret()
		case "listen_port":
			p, err := strconv.ParseUint(value, 10, 16)
			if err != nil {
				return err
			}
			st.ListenPort = uint16(p)
		case "fwmark":
			m, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				return err
			}
			st.FwMark = uint32(m)
		}
		return nil
	}
	p := *peer
	switch key {
	case "preshared_key":
		k, err := config.ParseHexKey(value)
		if err != nil {
			return err
		}
		p.PresharedKey = k.Secret()
	case "endpoint":
		ap, err := netip.ParseAddrPort(value)
		if err != nil {
			return err
		}
		p.Endpoint = config.Endpoint{Host: ap.Addr().String(), Port: ap.Port()}
	case "persistent_keepalive_interval":
		v, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return err
		}
		p.PersistentKeepalive = uint16(v)
	case "allowed_ip":
		pfx, err := netip.ParsePrefix(value)
		if err != nil {
			return err
		}
		p.AllowedIPs = append(p.AllowedIPs, pfx)
	case "last_handshake_time_sec":
		v, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return err
		}
		*hsSec = v
	case "last_handshake_time_nsec":
		v, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return err
		}
		*hsNsec = v
	case "rx_bytes":
		v, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return err
		}
		p.RxBytes = v
	case "tx_bytes":
		v, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return err
		}
		p.TxBytes = v
	}
	return nil
}
