package main

import (
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// The QR codes wgu prints carry a whole client config, as the WireGuard
// phone apps import it ("Create from QR code"). Medium error correction
// keeps a config with a preshared key within a size phones read easily.
const qrLevel = qrcode.Medium

// qrPNGSize is the PNG's edge in pixels.
const qrPNGSize = 512

// terminalQR draws text's QR code with UTF-8 half blocks, two modules per
// character cell: the upper half block is the top module, the lower half
// block the bottom one. Light modules (and the 4-module quiet zone) are
// drawn, dark ones left blank, as `qrencode -t utf8` does for the common
// light-text-on-dark terminal; scanners also read the inverse.
func terminalQR(text string) (string, error) {
	q, err := qrcode.New(text, qrLevel)
	if err != nil {
		return "", fmt.Errorf("making the QR code: %w", err)
	}
	bits := q.Bitmap() // true = dark, with the quiet zone
	var b strings.Builder
	for y := 0; y < len(bits); y += 2 {
		for x := range bits[y] {
			top := !bits[y][x]
			bottom := false
			if y+1 < len(bits) {
				bottom = !bits[y+1][x]
			}
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// pngQR is text's QR code as a PNG.
func pngQR(text string) ([]byte, error) {
	q, err := qrcode.New(text, qrLevel)
	if err != nil {
		return nil, fmt.Errorf("making the QR code: %w", err)
	}
	return q.PNG(qrPNGSize)
}
