package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/wgu-project/wgu/tunnel/uapi"
)

// The formats here are wg(8)'s, byte for byte, so scripts written for `wg
// show` read wgu's output unchanged (see WG-COMPAT.md, section 3).

// ANSI sequences wg uses when colour is on.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiCyan    = "\x1b[36m"
	hiddenValue = "(hidden)"
)

// painter writes with or without colour. Its append methods build a line in
// a caller's buffer: `wgu show` at 10,000 peers prints 70,000 lines, and a
// string per value (and fmt per line) was most of its work.
type painter struct {
	color bool
}

// c returns seq when colour is on, else nothing.
func (p painter) c(seq string) string {
	if p.color {
		return seq
	}
	return ""
}

// field appends "  name: " with wg's bold name; the caller appends the
// value and the newline.
func (p painter) field(b []byte, name string) []byte {
	b = append(append(append(append(b, "  "...), p.c(ansiBold)...), name...), p.c(ansiReset)...)
	return append(b, ": "...)
}

// unit appends a unit name in colour, as wg does for B, KiB, seconds, ...
func (p painter) unit(b []byte, u string) []byte {
	return append(append(append(b, p.c(ansiCyan)...), u...), p.c(ansiReset)...)
}

// formatShow pretty-prints one interface as `wg show NAME` does. Peers are
// sorted by latest handshake, newest first, those without one last.
func formatShow(w io.Writer, st *uapi.Status, now time.Time, color, hideKeys bool) {
	p := painter{color: color}
	b := make([]byte, 0, 1024)
	b = append(append(append(b, p.c(ansiGreen)...), p.c(ansiBold)...), "interface"...)
	b = append(append(append(b, p.c(ansiReset)...), ": "...), p.c(ansiGreen)...)
	b = append(append(append(b, st.Name...), p.c(ansiReset)...), '\n')
	if !st.PrivateKey.IsZero() {
		b = append(appendKey(p.field(b, "public key"), st.PrivateKey.PublicKey()), '\n')
		b = p.field(b, "private key")
		if hideKeys {
			b = append(b, hiddenValue...)
		} else {
			b = appendKey(b, st.PrivateKey.Reveal())
		}
		b = append(b, '\n')
	}
	if st.ListenPort != 0 {
		b = append(strconv.AppendUint(p.field(b, "listening port"), uint64(st.ListenPort), 10), '\n')
	}
	if st.FwMark != 0 {
		b = append(appendFwmark(p.field(b, "fwmark"), st.FwMark), '\n')
	}
	w.Write(b)
	// Sorted through pointers: moving the peers themselves would copy
	// 10,000 structs of 160 bytes, more than once.
	peers := make([]*uapi.PeerStatus, len(st.Peers))
	for i := range st.Peers {
		peers[i] = &st.Peers[i]
	}
	slices.SortStableFunc(peers, func(a, b *uapi.PeerStatus) int {
		switch {
		case a.LastHandshake.IsZero() && b.LastHandshake.IsZero():
			return 0
		case a.LastHandshake.IsZero():
			return 1
		case b.LastHandshake.IsZero():
			return -1
		}
		return b.LastHandshake.Compare(a.LastHandshake)
	})
	for _, peer := range peers {
		b = append(b[:0], '\n')
		b = append(append(append(b, p.c(ansiYellow)...), p.c(ansiBold)...), "peer"...)
		b = append(append(append(b, p.c(ansiReset)...), ": "...), p.c(ansiYellow)...)
		b = append(appendKey(b, peer.PublicKey), p.c(ansiReset)...)
		b = append(b, '\n')
		if !peer.PresharedKey.IsZero() {
			b = p.field(b, "preshared key")
			if hideKeys {
				b = append(b, hiddenValue...)
			} else {
				b = appendKey(b, peer.PresharedKey.Reveal())
			}
			b = append(b, '\n')
		}
		if !peer.Endpoint.IsZero() {
			b = append(peer.Endpoint.AppendTo(p.field(b, "endpoint")), '\n')
		}
		b = append(p.appendAllowedIPs(p.field(b, "allowed ips"), peer), '\n')
		if !peer.LastHandshake.IsZero() && peer.LastHandshake.Unix() != 0 {
			b = append(p.appendAgo(p.field(b, "latest handshake"), peer.LastHandshake, now), '\n')
		}
		if peer.RxBytes != 0 || peer.TxBytes != 0 {
			b = p.appendBytes(p.field(b, "transfer"), peer.RxBytes)
			b = p.appendBytes(append(b, " received, "...), peer.TxBytes)
			b = append(b, " sent\n"...)
		}
		if peer.PersistentKeepalive != 0 {
			b = p.appendDuration(append(p.field(b, "persistent keepalive"), "every "...), uint64(peer.PersistentKeepalive))
			b = append(b, '\n')
		}
		w.Write(b)
	}
}

// appendAllowedIPs appends "a/n, b/m" with the slash coloured, or "(none)".
func (p painter) appendAllowedIPs(b []byte, peer *uapi.PeerStatus) []byte {
	if len(peer.AllowedIPs) == 0 {
		return append(b, "(none)"...)
	}
	for i, pfx := range peer.AllowedIPs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = pfx.Addr().AppendTo(b)
		b = append(append(append(b, p.c(ansiCyan)...), '/'), p.c(ansiReset)...)
		b = strconv.AppendInt(b, int64(pfx.Bits()), 10)
	}
	return b
}

// ago is wg's "1 minute, 14 seconds ago", "Now", or its clock warning.
func (p painter) ago(t, now time.Time) string { return string(p.appendAgo(nil, t, now)) }

func (p painter) appendAgo(b []byte, t, now time.Time) []byte {
	secs, nowSecs := t.Unix(), now.Unix()
	switch {
	case secs == nowSecs:
		return append(b, "Now"...)
	case secs > nowSecs:
		b = append(b, p.c(ansiRed)...)
		b = append(b, "(System clock wound backward; connection problems may ensue.)"...)
		return append(b, p.c(ansiReset)...)
	}
	return append(p.appendDuration(b, uint64(nowSecs-secs)), " ago"...)
}

// durationUnits are the units of duration, largest first; a year is 365 days.
var durationUnits = [...]struct {
	name string
	size uint64
}{{"year", 365 * 24 * 3600}, {"day", 24 * 3600}, {"hour", 3600}, {"minute", 60}, {"second", 1}}

// duration spells out seconds in years (of 365 days), days, hours,
// minutes and seconds, skipping zero units.
func (p painter) duration(secs uint64) string { return string(p.appendDuration(nil, secs)) }

func (p painter) appendDuration(b []byte, secs uint64) []byte {
	first := true
	for _, u := range durationUnits {
		n := secs / u.size
		secs %= u.size
		if n == 0 {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = append(strconv.AppendUint(b, n, 10), ' ')
		if n == 1 {
			b = p.unit(b, u.name)
		} else {
			b = append(append(append(append(b, p.c(ansiCyan)...), u.name...), 's'), p.c(ansiReset)...)
		}
	}
	return b
}

// bytes is wg's "764 B", "1.00 KiB", ... "2.00 TiB".
func (p painter) bytes(n uint64) string { return string(p.appendBytes(nil, n)) }

func (p painter) appendBytes(b []byte, n uint64) []byte {
	const k = 1024
	if n < k {
		return p.unit(append(strconv.AppendUint(b, n, 10), ' '), "B")
	}
	units := [...]string{"KiB", "MiB", "GiB", "TiB"}
	i, div := 0, float64(k)
	for i < len(units)-1 && n >= uint64(div)*k {
		i, div = i+1, div*k
	}
	// 'f' with precision 2 is what fmt's %.2f prints.
	b = strconv.AppendFloat(b, float64(n)/div, 'f', 2, 64)
	return p.unit(append(b, ' '), units[i])
}

// showFields are the script-friendly fields of `wg show NAME FIELD`.
var showFields = []string{"public-key", "private-key", "listen-port", "fwmark", "peers", "preshared-keys",
	"endpoints", "allowed-ips", "latest-handshakes", "persistent-keepalive", "transfer", "dump"}

func isShowField(s string) bool { return slices.Contains(showFields, s) }

// formatShowconf prints the device's configuration as `wg showconf` does.
func formatShowconf(w io.Writer, st *uapi.Status) {
	fmt.Fprintln(w, "[Interface]")
	if st.ListenPort != 0 {
		fmt.Fprintf(w, "ListenPort = %d\n", st.ListenPort)
	}
	if st.FwMark != 0 {
		fmt.Fprintf(w, "FwMark = 0x%x\n", st.FwMark)
	}
	if !st.PrivateKey.IsZero() {
		fmt.Fprintf(w, "PrivateKey = %s\n", st.PrivateKey.Reveal())
	}
	fmt.Fprintln(w)
	for i, p := range st.Peers {
		fmt.Fprintln(w, "[Peer]")
		fmt.Fprintf(w, "PublicKey = %s\n", p.PublicKey)
		if !p.PresharedKey.IsZero() {
			fmt.Fprintf(w, "PresharedKey = %s\n", p.PresharedKey.Reveal())
		}
		if len(p.AllowedIPs) > 0 {
			fmt.Fprintf(w, "AllowedIPs = %s\n", joinIPs(p, ", "))
		}
		if !p.Endpoint.IsZero() {
			fmt.Fprintf(w, "Endpoint = %s\n", p.Endpoint)
		}
		if p.PersistentKeepalive != 0 {
			fmt.Fprintf(w, "PersistentKeepalive = %d\n", p.PersistentKeepalive)
		}
		if i < len(st.Peers)-1 {
			fmt.Fprintln(w)
		}
	}
}
