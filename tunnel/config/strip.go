package config

import (
	"bytes"
	"io"
)

// StripConfig is `wg-quick strip`: it validates the file, then returns the
// lines wg(8) would accept, as written (comments and blank lines included),
// without the wg-quick keys of [Interface] and without the service sections.
// Like wg-quick, it ends the output with one extra blank line.
func StripConfig(file string, r io.Reader) ([]byte, error) {
	_, lines, err := parseConfig(file, r)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, l := range lines {
		if l.wgLine {
			b.WriteString(l.text)
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
