package services

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// sizedReader hands out src in reads of at most step bytes and records the
// largest buffer it was given.
type sizedReader struct {
	src     []byte
	step    int
	largest int
}

func (r *sizedReader) Read(p []byte) (int, error) {
	r.largest = max(r.largest, len(p))
	if len(r.src) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.step)], r.src)
	r.src = r.src[n:]
	return n, nil
}

// A relay direction to the host moves to the bulk buffer once a read fills
// the small one, and only then; the bytes arrive intact either way.
func TestCopyGrowing(t *testing.T) {
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	for _, tc := range []struct {
		name string
		step int
		want int // the largest read buffer
	}{
		{"bulk", 1 << 30, bulkRelayBufferSize},
		{"short reads", relayBufferSize - 1, relayBufferSize},
	} {
		var b serviceBase
		b.init(nil)
		r := &sizedReader{src: data, step: tc.step}
		var out bytes.Buffer
		if err := b.copyGrowing(&out, r, make([]byte, relayBufferSize)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("%s: %d bytes arrived, not the %d sent", tc.name, out.Len(), len(data))
		}
		if r.largest != tc.want {
			t.Errorf("%s: largest read buffer %d, want %d", tc.name, r.largest, tc.want)
		}
	}
}

// shortWriter takes one byte less than it is given.
type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) - 1, nil }

func TestCopyGrowingShortWrite(t *testing.T) {
	var b serviceBase
	b.init(nil)
	err := b.copyGrowing(shortWriter{}, &sizedReader{src: make([]byte, 10), step: 10}, make([]byte, 64))
	if err != io.ErrShortWrite {
		t.Fatalf("got %v, want io.ErrShortWrite", err)
	}
}
