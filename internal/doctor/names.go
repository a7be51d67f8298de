package doctor

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/wgu-project/wgu/tunnel/config"
)

// peerLabel is how findings name a peer: its comment, if the file gives it
// one, and the line of its [Peer] header, else a short form of its key.
// Users recognise "the hub (line 7)" faster than a base64 key.
type peerLabel struct {
	Line    int    // line of the [Peer] header, 0 if unknown
	Comment string // first comment right after the header, or right before it
}

// scanPeerLabels reads the [Peer] headers of a wg-quick file in order.
// It never fails: a file it cannot read only costs the nicer names.
func scanPeerLabels(r io.Reader) []peerLabel {
	var labels []peerLabel
	sc := bufio.NewScanner(r)
	var lastComment string // comment on the line just before, if any
	inPeerHead := false    // right after a [Peer] header, before any key
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.EqualFold(line, "[peer]"):
			labels = append(labels, peerLabel{Line: n, Comment: lastComment})
			inPeerHead = true
			lastComment = ""
			continue
		case strings.HasPrefix(line, "#"):
			c := strings.TrimSpace(strings.TrimLeft(line, "#"))
			if inPeerHead && labels[len(labels)-1].Comment == "" {
				labels[len(labels)-1].Comment = c
			}
			lastComment = c
			continue
		case line == "":
			lastComment = ""
			continue
		}
		inPeerHead = false
		lastComment = ""
	}
	return labels
}

// peerName names peer i of cfg for a finding.
func peerName(labels []peerLabel, i int, p config.Peer) string {
	key := p.PublicKey.String()[:8] + "…"
	if i < len(labels) {
		l := labels[i]
		if l.Comment != "" {
			return fmt.Sprintf("peer %q (line %d)", shorten(l.Comment, 40), l.Line)
		}
		return fmt.Sprintf("peer %s (line %d)", key, l.Line)
	}
	return "peer " + key
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
