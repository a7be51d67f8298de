package uapi

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
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
// ignored, and a non-zero errno an error. r's buffer must hold the longest
// line allowed (bufio's default size does).
//
// At 10,000 peers this is most of `wgu show`'s own work, so it reads lines
// in place (no string per line), decodes numbers and keys from the bytes,
// fills each peer where it lies in Status.Peers and gives all peers'
// AllowedIPs one backing array.
func ParseStatus(r *bufio.Reader) (*Status, error) {
	p := statusParser{st: &Status{}}
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxUAPILine {
			return nil, fmt.Errorf("%w: line %d is too long", ErrProtocol, n)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reply ended before errno (line %d): %v", ErrProtocol, n, err)
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			return nil, fmt.Errorf("%w: empty line %d before errno", ErrProtocol, n)
		}
		key, value, ok := bytes.Cut(line, []byte("="))
		if !ok {
			return nil, fmt.Errorf("%w: line %d: %q is not key=value", ErrProtocol, n, line)
		}
		if string(key) == "errno" {
			code, err := strconv.ParseUint(string(value), 10, 31)
			if err != nil {
				return nil, fmt.Errorf("%w: errno %q", ErrProtocol, value)
			}
			if end, err := r.ReadByte(); err != nil || end != '\n' {
				return nil, fmt.Errorf("%w: no empty line after errno", ErrProtocol)
			}
			if code != 0 {
				return nil, fmt.Errorf("%w: device returned errno %d", ErrProtocol, code)
			}
			p.finishPeer()
			return p.st, nil
		}
		if err := p.apply(key, value); err != nil {
			return nil, fmt.Errorf("%w: line %d: %s: %v", ErrProtocol, n, key, err)
		}
	}
}

// statusParser is the state of ParseStatus between lines.
type statusParser struct {
	st     *Status
	peer   *PeerStatus // the peer being read, the last of st.Peers; nil: device keys
	hsSec  int64
	hsNsec int64
	// ips holds the AllowedIPs of all peers read so far, back to back;
	// ipsFrom is where the current peer's begin.
	ips     []netip.Prefix
	ipsFrom int
}

// finishPeer completes the peer being read, if any.
func (p *statusParser) finishPeer() {
	if p.peer == nil {
		return
	}
	if p.hsSec != 0 || p.hsNsec != 0 {
		p.peer.LastHandshake = time.Unix(p.hsSec, p.hsNsec)
	}
	if len(p.ips) > p.ipsFrom {
		// Capped, so that appending to one peer's AllowedIPs never
		// overwrites the next peer's.
		p.peer.AllowedIPs = p.ips[p.ipsFrom:len(p.ips):len(p.ips)]
	}
	p.ipsFrom = len(p.ips)
	p.hsSec, p.hsNsec = 0, 0
}

// apply stores one key=value of a get reply.
func (p *statusParser) apply(key, value []byte) error {
	if string(key) == "public_key" {
		var k config.Key
		if err := decodeHexKey(&k, value); err != nil {
			return err
		}
		p.finishPeer()
		if len(p.st.Peers) == cap(p.st.Peers) {
			// Doubling: append's growth of large slices (1.25x) would
			// allocate and copy five times the final size.
			p.st.Peers = slices.Grow(p.st.Peers, max(len(p.st.Peers), 8))
		}
		p.st.Peers = append(p.st.Peers, PeerStatus{Peer: config.Peer{PublicKey: k}})
		p.peer = &p.st.Peers[len(p.st.Peers)-1]
		return nil
	}
	if p.peer == nil {
		return p.applyDevice(key, value)
	}
	peer := p.peer
	switch string(key) {
	case "preshared_key":
		var k config.Key
		if err := decodeHexKey(&k, value); err != nil {
			return err
		}
		peer.PresharedKey = k.Secret()
	case "endpoint":
		ap, err := netip.ParseAddrPort(string(value))
		if err != nil {
			return err
		}
		peer.Endpoint = config.Endpoint{Host: ap.Addr().String(), Port: ap.Port()}
	case "persistent_keepalive_interval":
		v, err := strconv.ParseUint(string(value), 10, 16)
		if err != nil {
			return err
		}
		peer.PersistentKeepalive = uint16(v)
	case "allowed_ip":
		pfx, err := parsePrefix(value)
		if err != nil {
			return err
		}
		if len(p.ips) == cap(p.ips) {
			p.ips = slices.Grow(p.ips, max(len(p.ips), 8))
		}
		p.ips = append(p.ips, pfx)
	case "last_handshake_time_sec":
		v, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil {
			return err
		}
		p.hsSec = v
	case "last_handshake_time_nsec":
		v, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil {
			return err
		}
		p.hsNsec = v
	case "rx_bytes":
		v, err := strconv.ParseUint(string(value), 10, 64)
		if err != nil {
			return err
		}
		peer.RxBytes = v
	case "tx_bytes":
		v, err := strconv.ParseUint(string(value), 10, 64)
		if err != nil {
			return err
		}
		peer.TxBytes = v
	}
	return nil
}

// applyDevice stores a key=value that comes before the first peer.
func (p *statusParser) applyDevice(key, value []byte) error {
	switch string(key) {
	case "private_key":
		var k config.Key
		if err := decodeHexKey(&k, value); err != nil {
			return err
		}
		p.st.PrivateKey = k.Secret()
	case "listen_port":
		v, err := strconv.ParseUint(string(value), 10, 16)
		if err != nil {
			return err
		}
		p.st.ListenPort = uint16(v)
	case "fwmark":
		v, err := strconv.ParseUint(string(value), 10, 32)
		if err != nil {
			return err
		}
		p.st.FwMark = uint32(v)
	}
	return nil
}

// decodeHexKey decodes a key in the UAPI's hex form into k, as
// config.ParseHexKey does, without a string.
func decodeHexKey(k *config.Key, b []byte) error {
	if len(b) != 2*config.KeyLen {
		return config.ErrInvalidKey
	}
	if _, err := hex.Decode(k[:], b); err != nil {
		return config.ErrInvalidKey
	}
	return nil
}
