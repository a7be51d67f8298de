package netstackx

import "testing"

// A relay's writes into the netstack are whole packets' worth that fit one
// segment gVisor's TCP hands the device.
func TestWriteChunk(t *testing.T) {
	for _, c := range []struct {
		mtu  int
		v6   bool
		want int
	}{
		{1420, false, 47 * 1368}, // wg-quick's default MTU, IPv4: 1420 - 20 - 20 - 12
		{1420, true, 48 * 1348},  // IPv6: 1420 - 40 - 20 - 12
		{1280, false, 53 * 1228},
		{65535, false, maxSegmentPayload}, // a packet bigger than a segment: no rounding
	} {
		got := writeChunk(c.mtu, c.v6)
		if got != c.want {
			t.Errorf("writeChunk(%d, v6 %v) = %d, want %d", c.mtu, c.v6, got, c.want)
		}
		if got > maxSegmentPayload {
			t.Errorf("writeChunk(%d, v6 %v) = %d: more than a segment (%d)", c.mtu, c.v6, got, maxSegmentPayload)
		}
	}
}
