package netstackx

import (
	"context"
	"io"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// BenchmarkDeviceTCP measures the netstack packet path alone: one TCP
// stream between two Devices whose Read and Write are joined directly (no
// WireGuard, no UDP). Bytes/s is goodput; allocs/op are per 64 KiB written,
// about 47 packets each way at MTU 1420.
func BenchmarkDeviceTCP(b *testing.B) {
	a := newTestDevice(b, false, "10.0.0.1/24")
	c := newTestDevice(b, false, "10.0.0.2/24")
	newWire(b, a, c)
	benchmarkStream(b, a, c)
}

// BenchmarkDeviceTCPReordered is the same stream over a path that delivers
// one packet in 20 three packets late: with tuneTCP's settings (SACK and
// RACK), with the classic duplicate-ACK rule instead of RACK (tuneTCP's
// setting since RACK was turned off, see lossRecovery), and without SACK:
// without RACK each reordering looks like a loss and halves the congestion
// window. It measures what turning RACK off costs on a reordering path.
func BenchmarkDeviceTCPReordered(b *testing.B) {
	for _, tc := range []struct {
		name     string
		recovery tcpip.TCPRecovery
		sack     tcpip.TCPSACKEnabled
	}{
		{"sack-rack", tcpip.TCPRACKLossDetection, true},
		{"sack-dupack", 0, true},
		{"no-sack", 0, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := newTestDevice(b, false, "10.0.0.1/24")
			c := newTestDevice(b, false, "10.0.0.2/24")
			for _, d := range []*Device{a, c} {
				rec, sack := tc.recovery, tc.sack
				if err := d.stack.SetTransportProtocolOption(tcp.ProtocolNumber, &rec); err != nil {
					b.Fatal(err)
				}
				if err := d.stack.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
					b.Fatal(err)
				}
			}
			newReorderingWire(b, 20, 3, a, c)
			benchmarkStream(b, a, c)
		})
	}
}

// benchmarkStream sends b.N blocks of 64 KiB from a to a listener on c.
func benchmarkStream(b *testing.B, a, c *Device) {
	ln, err := c.Listen("tcp", "10.0.0.2:9000")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer s.Close()
		buf := make([]byte, 64<<10)
		for {
			if _, err := s.Read(buf); err != nil {
				done <- nil
				return
			}
		}
	}()
	conn, err := a.DialContext(context.Background(), "tcp", "10.0.0.2:9000")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for i := 0; i < 64; i++ {
		conn.Write(buf)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	conn.Close()
	if err := <-done; err != nil && err != io.EOF {
		b.Fatal(err)
	}
}
