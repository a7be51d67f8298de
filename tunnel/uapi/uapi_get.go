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
// It reads lines in place (no string per line), decodes numbers and keys
// from the bytes, fills each peer where it lies in Status.Peers and gives
// all peers' AllowedIPs one backing array.
func ParseStatus(r *bufio.Reader) (*Status, error) {
	p := statusParser{st: &Status{}}
	if err := p.read(r); err != nil {
		return nil, err
	}
	return p.st, nil
}

// StatusVisitor receives a get reply while it is read, for a printer that
// needs no more than a peer at a time (`wg show NAME dump` and the other
// fields): at 10,000 peers, collecting them first made half of `wgu show`'s
// own CPU time, most of it the kernel faulting in the growing slice.
type StatusVisitor struct {
	// Device is called once, before the first peer (or at the end, without
	// peers), with the device's own keys; Status.Peers is empty.
	Device func(*Status) error
	// Peer is called for each peer, in the device's order. The PeerStatus
	// and its AllowedIPs are reused for the next peer: valid only during
	// the call.
	Peer func(*PeerStatus) error
}

// ReadStatus reads a get reply as ParseStatus does, handing it to v as it
// comes. An error in the reply (a malformed line, a non-zero errno) may
// come after v has seen peers; an error v returns ends the read.
func ReadStatus(r *bufio.Reader, v StatusVisitor) error {
	p := statusParser{st: &Status{}, visit: &v}
	return p.read(r)
}

// read reads the reply up to its errno line.
func (p *statusParser) read(r *bufio.Reader) error {
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxUAPILine {
			return fmt.Errorf("%w: line %d is too long", ErrProtocol, n)
		}
		if err != nil {
			return fmt.Errorf("%w: reply ended before errno (line %d): %v", ErrProtocol, n, err)
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			return fmt.Errorf("%w: empty line %d before errno", ErrProtocol, n)
		}
		key, value, ok := bytes.Cut(line, []byte("="))
		if !ok {
			return fmt.Errorf("%w: line %d: %q is not key=value", ErrProtocol, n, line)
		}
		if string(key) == "errno" {
			code, err := strconv.ParseUint(string(value), 10, 31)
			if err != nil {
				return fmt.Errorf("%w: errno %q", ErrProtocol, value)
			}
			if end, err := r.ReadByte(); err != nil || end != '\n' {
				return fmt.Errorf("%w: no empty line after errno", ErrProtocol)
			}
			if code != 0 {
				return fmt.Errorf("%w: device returned errno %d", ErrProtocol, code)
			}
			if p.peer == nil {
				return p.deviceDone()
			}
			return p.finishPeer()
		}
		if err := p.apply(key, value); err != nil {
			var visitErr visitError
			if errors.As(err, &visitErr) {
				return visitErr.err
			}
			return fmt.Errorf("%w: line %d: %s: %v", ErrProtocol, n, key, err)
		}
	}
}

// visitError carries an error a StatusVisitor returned through apply, so
// that read does not report it as the reply's fault.
type visitError struct{ err error }

func (e visitError) Error() string { return e.err.Error() }

// statusParser is the state of ParseStatus between lines.
type statusParser struct {
	st     *Status
	peer   *PeerStatus // the peer being read; nil: device keys
	hsSec  int64
	hsNsec int64
	// ips holds the AllowedIPs of all peers read so far, back to back;
	// ipsFrom is where the current peer's begin. With a visitor, only the
	// current peer's.
	ips     []netip.Prefix
	ipsFrom int

	// With a visitor, the peer being read is cur, handed to visit.Peer
	// when it is complete.
	visit *StatusVisitor
	cur   PeerStatus
}

// deviceDone hands the device's keys to the visitor. Called when the first
// peer starts, or at the end when there was none (p.peer is still nil).
func (p *statusParser) deviceDone() error {
	if p.visit == nil || p.visit.Device == nil {
		return nil
	}
	return p.visit.Device(p.st)
}

// finishPeer completes the peer being read (p.peer is not nil).
func (p *statusParser) finishPeer() error {
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
	if p.visit == nil {
		return nil
	}
	var err error
	if p.visit.Peer != nil {
		err = p.visit.Peer(p.peer)
	}
	p.ips, p.ipsFrom = p.ips[:0], 0 // the next peer reuses them
	return err
}

// startPeer begins a peer with public key k.
func (p *statusParser) startPeer(k config.Key) error {
	if p.peer == nil {
		if err := p.deviceDone(); err != nil {
			return err
		}
	} else if err := p.finishPeer(); err != nil {
		return err
	}
	if p.visit != nil {
		p.cur = PeerStatus{Peer: config.Peer{PublicKey: k}}
		p.peer = &p.cur
		return nil
	}
	if len(p.st.Peers) == cap(p.st.Peers) {
		// Doubling: append's growth of large slices (1.25x) would
		// allocate and copy five times the final size.
		p.st.Peers = slices.Grow(p.st.Peers, max(len(p.st.Peers), 8))
	}
	p.st.Peers = append(p.st.Peers, PeerStatus{Peer: config.Peer{PublicKey: k}})
	p.peer = &p.st.Peers[len(p.st.Peers)-1]
	return nil
}

// apply stores one key=value of a get reply.
func (p *statusParser) apply(key, value []byte) error {
	if string(key) == "public_key" {
		var k config.Key
		if err := decodeHexKey(&k, value); err != nil {
			return err
		}
		if err := p.startPeer(k); err != nil {
			return visitError{err}
		}
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
