package main

import (
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// hubStatus is a hub with n peers, one /32 each, like e2e's
// BenchmarkHub10kPeers.
func hubStatus(n int) *uapi.Status {
	st := &uapi.Status{Name: "hub", ListenPort: 51820, PrivateKey: config.Key{1}.Secret()}
	for i := 0; i < n; i++ {
		var k config.Key
		k[0], k[1] = byte(i), byte(i>>8)
		st.Peers = append(st.Peers, uapi.PeerStatus{
			Peer: config.Peer{PublicKey: k,
				AllowedIPs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 100, byte(i >> 8), byte(i)}), 32)}},
			LastHandshake: time.Unix(1795571677+int64(i%2), 0),
			RxBytes:       uint64(148 * i), TxBytes: uint64(92 * i),
		})
	}
	return st
}

// BenchmarkShowDump10kPeers is the printing half of `wgu show NAME dump`
// at 10,000 peers.
func BenchmarkShowDump10kPeers(b *testing.B) {
	st := hubStatus(10000)
	b.ReportAllocs()
	for b.Loop() {
		if err := formatField(io.Discard, st, "dump", ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkShowPretty10kPeers is `wgu show NAME` at 10,000 peers.
func BenchmarkShowPretty10kPeers(b *testing.B) {
	st := hubStatus(10000)
	now := time.Unix(1795571699, 0)
	b.ReportAllocs()
	for b.Loop() {
		formatShow(io.Discard, st, now, false, true)
	}
}
