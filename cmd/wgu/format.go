package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
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

// painter writes with or without colour.
type painter struct {
	w     io.Writer
	color bool
}

// c returns seq when colour is on, else nothing.
func (p painter) c(seq string) string {
	if p.color {
		return seq
	}
	return ""
}

// field writes "  name: value" with wg's bold name.
func (p painter) field(name, value string) {
	fmt.Fprintf(p.w, "  %s%s%s: %s\n", p.c(ansiBold), name, p.c(ansiReset), value)
}

// unit colours a unit name, as wg does for B, KiB, seconds, ...
func (p painter) unit(u string) string { return p.c(ansiCyan) + u + p.c(ansiReset) }

// formatShow pretty-prints one interface as `wg show NAME` does. Peers are
// sorted by latest handshake, newest first, those without one last.
func formatShow(w io.Writer, st *uapi.Status, now time.Time, color, hideKeys bool) {
	p := painter{w: w, color: color}
	fmt.Fprintf(w, "%s%sinterface%s: %s%s%s\n", p.c(ansiGreen), p.c(ansiBold), p.c(ansiReset), p.c(ansiGreen), st.Name, p.c(ansiReset))
	if !st.PrivateKey.IsZero() {
		p.field("public key", st.PrivateKey.PublicKey().String())
		p.field("private key", maybeHidden(st.PrivateKey.Reveal().String(), hideKeys))
	}
	if st.ListenPort != 0 {
		p.field("listening port", strconv.Itoa(int(st.ListenPort)))
	}
	if st.FwMark != 0 {
		p.field("fwmark", fmt.Sprintf("0x%x", st.FwMark))
	}
	peers := slices.Clone(st.Peers)
	slices.SortStableFunc(peers, func(a, b uapi.PeerStatus) int {
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
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%s%speer%s: %s%s%s\n", p.c(ansiYellow), p.c(ansiBold), p.c(ansiReset), p.c(ansiYellow), peer.PublicKey, p.c(ansiReset))
		if !peer.PresharedKey.IsZero() {
			p.field("preshared key", maybeHidden(peer.PresharedKey.Reveal().String(), hideKeys))
		}
		if !peer.Endpoint.IsZero() {
			p.field("endpoint", peer.Endpoint.String())
		}
		p.field("allowed ips", p.allowedIPs(peer))
		if !peer.LastHandshake.IsZero() && peer.LastHandshake.Unix() != 0 {
			p.field("latest handshake", p.ago(peer.LastHandshake, now))
		}
		if peer.RxBytes != 0 || peer.TxBytes != 0 {
			p.field("transfer", p.bytes(peer.RxBytes)+" received, "+p.bytes(peer.TxBytes)+" sent")
		}
		if peer.PersistentKeepalive != 0 {
			p.field("persistent keepalive", "every "+p.duration(uint64(peer.PersistentKeepalive)))
		}
	}
}

func maybeHidden(key string, hide bool) string {
	if hide {
		return hiddenValue
	}
	return key
}

// allowedIPs is "a/n, b/m" with the slash coloured, or "(none)".
func (p painter) allowedIPs(peer uapi.PeerStatus) string {
	if len(peer.AllowedIPs) == 0 {
		return "(none)"
	}
	parts := make([]string, 0, len(peer.AllowedIPs))
	for _, pfx := range peer.AllowedIPs {
		parts = append(parts, pfx.Addr().String()+p.c(ansiCyan)+"/"+p.c(ansiReset)+strconv.Itoa(pfx.Bits()))
	}
	return strings.Join(parts, ", ")
}

// ago is wg's "1 minute, 14 seconds ago", "Now", or its clock warning.
func (p painter) ago(t, now time.Time) string {
	secs, nowSecs := t.Unix(), now.Unix()
	switch {
	case secs == nowSecs:
		return "Now"
	case secs > nowSecs:
		return p.c(ansiRed) + "(System clock wound backward; connection problems may ensue.)" + p.c(ansiReset)
	}
	return p.duration(uint64(nowSecs-secs)) + " ago"
}

// duration spells out seconds in years (of 365 days), days, hours,
// minutes and seconds, skipping zero units.
func (p painter) duration(secs uint64) string {
	units := []struct {
		name string
		size uint64
	}{{"year", 365 * 24 * 3600}, {"day", 24 * 3600}, {"hour", 3600}, {"minute", 60}, {"second", 1}}
	var parts []string
	for _, u := range units {
		n := secs / u.size
		secs %= u.size
		if n == 0 {
			continue
		}
		name := u.name
		if n != 1 {
			name += "s"
		}
		parts = append(parts, strconv.FormatUint(n, 10)+" "+p.unit(name))
	}
	return strings.Join(parts, ", ")
}

// bytes is wg's "764 B", "1.00 KiB", ... "2.00 TiB".
func (p painter) bytes(b uint64) string {
	const k = 1024
	switch {
	case b < k:
		return strconv.FormatUint(b, 10) + " " + p.unit("B")
	case b < k*k:
		return fmt.Sprintf("%.2f %s", float64(b)/k, p.unit("KiB"))
	case b < k*k*k:
		return fmt.Sprintf("%.2f %s", float64(b)/(k*k), p.unit("MiB"))
	case b < k*k*k*k:
		return fmt.Sprintf("%.2f %s", float64(b)/(k*k*k), p.unit("GiB"))
	}
	return fmt.Sprintf("%.2f %s", float64(b)/(k*k*k*k), p.unit("TiB"))
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
