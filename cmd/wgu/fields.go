package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"strconv"

	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// formatField prints one script-friendly field; prefix ("IFNAME\t" with
// `all`, else "") starts every line. Keys are never hidden here.
//
// `wgu show NAME dump` at 10,000 peers is as much output as show makes, so
// each line is built in one reused buffer and written once: no string per
// column, no fmt.
func formatField(w io.Writer, st *uapi.Status, field, prefix string) error {
	buf := make([]byte, 0, 512)
	start := func() []byte { return append(buf[:0], prefix...) }
	end := func(b []byte) {
		buf = append(b, '\n')
		w.Write(buf)
	}
	switch field {
	case "public-key":
		end(appendKeyOrNone(start(), publicKey(st)))
	case "private-key":
		end(appendKeyOrNone(start(), st.PrivateKey.Reveal()))
	case "listen-port":
		end(strconv.AppendUint(start(), uint64(st.ListenPort), 10))
	case "fwmark":
		end(appendFwmark(start(), st.FwMark))
	case "dump":
		b := appendKeyOrNone(start(), st.PrivateKey.Reveal())
		b = appendKeyOrNone(append(b, '\t'), publicKey(st))
		b = strconv.AppendUint(append(b, '\t'), uint64(st.ListenPort), 10)
		end(appendFwmark(append(b, '\t'), st.FwMark))
		for i := range st.Peers {
			p := &st.Peers[i]
			b := appendKey(start(), p.PublicKey)
			b = appendKeyOrNone(append(b, '\t'), p.PresharedKey.Reveal())
			b = appendEndpointOrNone(append(b, '\t'), p.Endpoint)
			b = appendIPs(append(b, '\t'), p, ",")
			b = appendHandshakeSecs(append(b, '\t'), p)
			b = strconv.AppendUint(append(b, '\t'), p.RxBytes, 10)
			b = strconv.AppendUint(append(b, '\t'), p.TxBytes, 10)
			end(appendKeepalive(append(b, '\t'), p))
		}
	default:
		if !isShowField(field) {
			return fmt.Errorf("Invalid parameter: `%s'", field)
		}
		for i := range st.Peers {
			p := &st.Peers[i]
			b := appendKey(start(), p.PublicKey)
			switch field {
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
			end(b)
		}
	}
	return nil
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
