package peerbook

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
)

// A hub's config file is edited as lines, so that everything the editor does
// not change (comments, blank lines, key spelling, order, other sections)
// stays exactly as the user wrote it.
//
// Conventions inside a [Peer] block (all of them comments, so wg-quick and wg
// read the file unchanged):
//
//	# Name = phone                  the peer's name (wg-easy and PiVPN also name peers in comments)
//	# ClientPrivateKey = …          only with --keep-client-key: what `wgu peer show` needs to
//	# ClientDNS = …, # ClientAllowedIPs = …, # ClientEndpoint = …, # ClientKeepalive = …
//	                                re-print the client's config
//
// A disabled peer is its whole block commented out with disabledPrefix on
// every line, so enabling it again restores the block byte for byte. The
// hub's public address for client configs is `# Endpoint = host:port` in
// [Interface].

// disabledPrefix starts every line of a disabled [Peer] block.
const disabledPrefix = "# disabled: "

// peerFile is a config file split into lines, with its [Peer] blocks found.
type peerFile struct {
	lines  []string // without their line endings
	blocks []peerBlock
	// iface holds the `# Key = Value` comments of the [Interface] section,
	// keys folded to lower case.
	iface map[string]string
}

// peerBlock is one [Peer] section: lines [start, end] (end inclusive). A
// block ends at its last key or comment line before the next section; blank
// lines after it belong to no block.
type peerBlock struct {
	start, end int
	disabled   bool
	name       string
	publicKey  config.Key
	allowedIPs []netip.Prefix
	presharedK config.Key
	// comments are the block's `# Key = Value` lines, keys folded to lower case.
	comments map[string]string
}

// parsePeerFile splits b into lines and finds the [Peer] blocks, enabled and
// disabled. It does not validate the config: ParseConfig does that.
func parsePeerFile(b []byte) *peerFile {
	// A CRLF file keeps its '\r's: they stay at the end of each line (and
	// TrimSpace ignores them when reading).
	text := strings.TrimSuffix(string(b), "\n")
	f := &peerFile{iface: map[string]string{}}
	if text != "" {
		f.lines = strings.Split(text, "\n")
	}
	f.scan()
	return f
}

// scan (re)finds the blocks after the lines changed.
func (f *peerFile) scan() {
	f.blocks = nil
	clear(f.iface)
	section := ""
	var cur *peerBlock
	finish := func() {
		if cur != nil {
			f.blocks = append(f.blocks, *cur)
			cur = nil
		}
	}
	for i, raw := range f.lines {
		line := strings.TrimSpace(raw)
		rest, prefixed := strings.CutPrefix(line, strings.TrimSpace(disabledPrefix))
		rest = strings.TrimSpace(rest)
		switch {
		case strings.HasPrefix(line, "["), prefixed && strings.HasPrefix(rest, "["):
			// A section header, or a disabled block's.
			finish()
			header := line
			if prefixed {
				header = rest
			}
			name := strings.ToLower(strings.Trim(strings.TrimSpace(stripComment(header)), "[] \t"))
			section = name
			if prefixed {
				section = "" // the lines of a disabled block are comments
			}
			if name == "peer" {
				cur = &peerBlock{start: i, end: i, disabled: prefixed, comments: map[string]string{}}
			}
			continue
		case cur != nil && cur.disabled && !prefixed:
			// A disabled block ends where its prefixed lines end.
			finish()
		case cur != nil && cur.disabled:
			line = rest
		}
		// In an enabled block, a line that only looks disabled is a comment.
		if line == "" {
			continue
		}
		key, value, isComment, ok := splitConfigLine(line)
		switch {
		case cur != nil:
			cur.end = i
			if !ok {
				continue
			}
			if isComment {
				cur.comments[strings.ToLower(key)] = value
				if strings.EqualFold(key, "name") {
					cur.name = value
				}
				continue
			}
			switch strings.ToLower(key) {
			case "publickey":
				cur.publicKey, _ = config.ParseKey(value)
			case "presharedkey":
				cur.presharedK, _ = config.ParseKey(value)
			case "allowedips":
				for _, s := range strings.Split(value, ",") {
					if p, err := config.ParsePrefix(strings.TrimSpace(s)); err == nil {
						cur.allowedIPs = append(cur.allowedIPs, p)
					}
				}
			}
		case section == "interface" && ok && isComment:
			f.iface[strings.ToLower(key)] = value
		}
	}
	finish()
	// Trailing comment lines that are not `# Key = Value` belong to what
	// follows (a comment above the next section), not to the block.
	// A disabled block keeps all its prefixed lines: disabling prefixed
	// exactly the block's.
	for bi := range f.blocks {
		b := &f.blocks[bi]
		for !b.disabled && b.end > b.start {
			line := strings.TrimSpace(f.lines[b.end])
			if _, _, _, ok := splitConfigLine(line); ok && line != "" {
				break
			}
			b.end--
		}
	}
}

// stripComment drops a trailing `# …`.
func stripComment(s string) string {
	before, _, _ := strings.Cut(s, "#")
	return before
}

// splitConfigLine splits `Key = Value` or `# Key = Value` (a comment key).
// ok is false for anything else (a plain comment, a header).
func splitConfigLine(line string) (key, value string, isComment, ok bool) {
	if rest, found := strings.CutPrefix(line, "#"); found {
		isComment = true
		line = strings.TrimSpace(rest)
	} else {
		line = stripComment(line)
	}
	k, v, found := strings.Cut(line, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !found || k == "" || strings.ContainsAny(k, " \t#[") {
		return "", "", false, false
	}
	return k, v, isComment, true
}

// bytes returns the file, each line ended by a newline.
func (f *peerFile) bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// find returns the index of the block whose name or public key is ref.
func (f *peerFile) find(ref string) (int, error) {
	if k, err := config.ParseKey(ref); err == nil {
		for i, b := range f.blocks {
			if b.publicKey == k {
				return i, nil
			}
		}
	}
	for i, b := range f.blocks {
		if b.name != "" && b.name == ref {
			return i, nil
		}
	}
	return -1, fmt.Errorf("%q: %w (expected a peer's name or public key)", ref, tunnel.ErrNoPeer)
}

// appendBlock adds lines as a new block at the end, after one blank line.
func (f *peerFile) appendBlock(lines []string) {
	if n := len(f.lines); n > 0 && strings.TrimSpace(f.lines[n-1]) != "" {
		f.lines = append(f.lines, "")
	}
	f.lines = append(f.lines, lines...)
	f.scan()
}

// removeBlock deletes block i and one blank line that separated it.
func (f *peerFile) removeBlock(i int) {
	b := f.blocks[i]
	start, end := b.start, b.end
	if start > 0 && strings.TrimSpace(f.lines[start-1]) == "" {
		start--
	} else if end+1 < len(f.lines) && strings.TrimSpace(f.lines[end+1]) == "" {
		end++
	}
	f.lines = append(f.lines[:start:start], f.lines[end+1:]...)
	f.scan()
}

// setDisabled comments block i out (disabled) or back in.
func (f *peerFile) setDisabled(i int, disabled bool) {
	b := f.blocks[i]
	if b.disabled == disabled {
		return
	}
	end := b.end
	if disabled {
		// Lines right after the block that already start with the prefix
		// would read as part of the disabled block: they go in it too (with
		// a second prefix), so that enabling gives them back unchanged.
		for end+1 < len(f.lines) && hasDisabledPrefix(f.lines[end+1]) {
			end++
		}
	}
	for n := b.start; n <= end; n++ {
		if disabled {
			f.lines[n] = disabledPrefix + f.lines[n]
			continue
		}
		l := f.lines[n]
		if rest, ok := strings.CutPrefix(l, disabledPrefix); ok {
			f.lines[n] = rest
		} else if rest, ok := strings.CutPrefix(strings.TrimLeft(l, " \t"), strings.TrimSpace(disabledPrefix)); ok {
			f.lines[n] = strings.TrimPrefix(rest, " ")
		}
	}
	f.scan()
}

// hasDisabledPrefix reports whether line would continue a disabled block
// (and does not start one).
func hasDisabledPrefix(line string) bool {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), strings.TrimSpace(disabledPrefix))
	return ok && !strings.HasPrefix(strings.TrimSpace(rest), "[")
}
