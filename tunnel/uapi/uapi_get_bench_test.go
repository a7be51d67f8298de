package uapi

import (
	"bufio"
	"bytes"
	"fmt"
	"testing"
)

// hubGetReply is a get reply as wireguard-go writes it for a hub with n
// peers, one /32 each, like e2e's BenchmarkHub10kPeers: the size `wgu show`
// parses there.
func hubGetReply(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "private_key=%064x\nlisten_port=51820\n", 0x77)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "public_key=%064x\npreshared_key=%064x\nprotocol_version=1\n", i+1, 0)
		if i == 0 {
			b.WriteString("endpoint=192.168.77.2:51820\n")
		}
		fmt.Fprintf(&b, "last_handshake_time_sec=%d\nlast_handshake_time_nsec=%d\ntx_bytes=%d\nrx_bytes=%d\n",
			1795571677+i%2, i, 92*i, 148*i)
		fmt.Fprintf(&b, "persistent_keepalive_interval=0\nallowed_ip=10.100.%d.%d/32\n", (i+2)/250, (i+2)%250+2)
	}
	b.WriteString("errno=0\n\n")
	return b.Bytes()
}

// BenchmarkParseStatus10kPeers is the CLI's share of `wgu show dump` at
// 10,000 peers: parsing the daemon's reply.
func BenchmarkParseStatus10kPeers(b *testing.B) {
	reply := hubGetReply(10000)
	b.SetBytes(int64(len(reply)))
	b.ReportAllocs()
	r := bufio.NewReader(nil)
	for b.Loop() {
		r.Reset(bytes.NewReader(reply))
		st, err := ParseStatus(r)
		if err != nil || len(st.Peers) != 10000 {
			b.Fatalf("%d peers, %v", len(st.Peers), err)
		}
	}
}

// BenchmarkReadStatus10kPeers is the same reply read peer by peer, as
// `wgu show NAME dump` reads it.
func BenchmarkReadStatus10kPeers(b *testing.B) {
	reply := hubGetReply(10000)
	b.SetBytes(int64(len(reply)))
	b.ReportAllocs()
	r := bufio.NewReader(nil)
	n := 0
	v := StatusVisitor{Peer: func(*PeerStatus) error { n++; return nil }}
	for b.Loop() {
		r.Reset(bytes.NewReader(reply))
		n = 0
		if err := ReadStatus(r, v); err != nil || n != 10000 {
			b.Fatalf("%d peers, %v", n, err)
		}
	}
}
