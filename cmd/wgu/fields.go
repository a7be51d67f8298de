package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"strconv"

	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// formatField prints one script-friendly field of st; prefix ("IFNAME\t"
// with `all`, else "") starts every line. Keys are never hidden here.
func formatField(w io.Writer, st *uapi.Status, field, prefix string) error {
	fp, err := newFieldPrinter(w, field, prefix)
	if err != nil {
		return err
	}
	fp.device(st)
	for i := range st.Peers {
		fp.peer(&st.Peers[i])
	}
	return nil
}

// fieldPrinter prints one field as a get reply is read: the device's line
// (public-key, private-key, listen-port, fwmark, dump's first), then a line
// per peer (the others, dump's next).
//
// `wgu show NAME dump` at 10,000 peers is as much output as show makes, so
// each line is built in one reused buffer and written once: no string per
// column, no fmt.
type fieldPrinter struct {
	w             io.Writer
	field, prefix string
	buf           []byte
}

func newFieldPrinter(w io.Writer, field, prefix string) (*fieldPrinter, error) {
	if !isShowField(field) {
		return nil, fmt.Errorf("Invalid parameter: `%s'", field)
	}
	return &fieldPrinter{w: w, field: field, prefix: prefix, buf: make([]byte, 0, 512)}, nil
}

func (f *fieldPrinter) start() []byte { return append(f.buf[:0], f.prefix...) }

func (f *fieldPrinter) end(b []byte) {
	f.buf = append(b, '\n')
	f.w.Write(f.buf)
}

// device prints the device's line, for the fields that have one.
func (f *fieldPrinter) device(st *uapi.Status) {
	switch f.field {
	case "public-key":
		f.end(appendKeyOrNone(f.start(), publicKey(st)))
	case "private-key":
		f.end(appendKeyOrNone(f.start(), st.PrivateKey.Reveal()))
	case "listen-port":
		f.end(strconv.AppendUint(f.start(), uint64(st.ListenPort), 10))
	case "fwmark":
		f.end(appendFwmark(f.start(), st.FwMark))
	case "dump":
		b := appendKeyOrNone(f.start(), st.PrivateKey.Reveal())
		b = appendKeyOrNone(append(b, '\t'), publicKey(st))
		b = strconv.AppendUint(append(b, '\t'), uint64(st.ListenPort), 10)
		f.end(appendFwmark(append(b, '\t'), st.FwMark))
	}
}

// peer prints p's line, for the fields that have one per peer.
func (f *fieldPrinter) peer(p *uapi.PeerStatus) {
	switch f.field {
	case "public-key", "private-key", "listen-port", "fwmark":
		return // the device's own
	}
	b := appendKey(f.start(), p.PublicKey)
	switch f.field {
	case "dump":
		b = appendKeyOrNone(append(b, '\t'), p.PresharedKey.Reveal())
		b = appendEndpointOrNone(append(b, '\t'), p.Endpoint)
		b = appendIPs(append(b, '\t'), p, ",")
		b = appendHandshakeSecs(append(b, '\t'), p)
		b = strconv.AppendUint(append(b, '\t'), p.RxBytes, 10)
		b = strconv.AppendUint(append(b, '\t'), p.TxBytes, 10)
		b = appendKeepalive(append(b, '\t'), p)
	case "peers":
	case "preshared-keys":
		b = appendKeyOrNone(append(b, '\t'), p.PresharedKey.Reveal())
	case "endpoints":
		b = appendEndpointOrNone(append(b, '\t'), p.Endpoint)
	case "allowed-ips":
		b = appendIPs(append(b, '\t'), p, " ")
	case "latest-handshakes":
		b = appendHandshakeSecs(append(b, '\t'), p)
	case "transfer":
		b = strconv.AppendUint(append(b, '\t'), p.RxBytes, 10)
		b = strconv.AppendUint(append(b, '\t'), p.TxBytes, 10)
	case "persistent-keepalive":
		b = appendKeepalive(append(b, '\t'), p)
	}
	f.end(b)
}

func publicKey(st *uapi.Status) config.Key {
	if st.PrivateKey.IsZero() {
		return config.Key{}
	}
	return st.PrivateKey.PublicKey()
}

// appendKey appends k in base64, as wg prints keys (config.Key's String).
func appendKey(b []byte, k config.Key) []byte { return base64.StdEncoding.AppendEncode(b, k[:]) }

func appendKeyOrNone(b []byte, k config.Key) []byte {
	if k.IsZero() {
		return append(b, "(none)"...)
	}
	return appendKey(b, k)
}

func keyOrNone(k config.Key) string { return string(appendKeyOrNone(nil, k)) }

func appendFwmark(b []byte, m uint32) []byte {
	if m == 0 {
		return append(b, "off"...)
	}
	return strconv.AppendUint(append(b, "0x"...), uint64(m), 16)
}

func appendEndpointOrNone(b []byte, e config.Endpoint) []byte {
	if e.IsZero() {
		return append(b, "(none)"...)
	}
	return e.AppendTo(b)
}

// appendIPs appends p's AllowedIPs joined by sep, or "(none)".
func appendIPs(b []byte, p *uapi.PeerStatus, sep string) []byte {
	if len(p.AllowedIPs) == 0 {
		return append(b, "(none)"...)
	}
	for i, pfx := range p.AllowedIPs {
		if i > 0 {
			b = append(b, sep...)
		}
		b = pfx.AppendTo(b)
	}
	return b
}

func joinIPs(p uapi.PeerStatus, sep string) string { return string(appendIPs(nil, &p, sep)) }

func appendHandshakeSecs(b []byte, p *uapi.PeerStatus) []byte {
	if p.LastHandshake.IsZero() {
		return append(b, '0')
	}
	return strconv.AppendInt(b, p.LastHandshake.Unix(), 10)
}

func appendKeepalive(b []byte, p *uapi.PeerStatus) []byte {
	if p.PersistentKeepalive == 0 {
		return append(b, "off"...)
	}
	return strconv.AppendUint(b, uint64(p.PersistentKeepalive), 10)
}
