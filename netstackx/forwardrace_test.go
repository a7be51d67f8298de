package netstackx

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestHubForwardsFromConcurrentPeers is the hub's forwarding path as wireguard-go drives it: one Write goroutine
// per peer, all at once, while the tunnel side reads, and another tunnel of the same process (a spoke) busy at the
// same time. Every forwarded packet must arrive intact with its TTL decremented. Run with -race: gVisor's own IPv4
// forwarding reads the TTL from a header its copy-on-write has already handed back to the buffer pool, where the
// other tunnel's next packet can be written into it (see hubforward.go).
func TestHubForwardsFromConcurrentPeers(t *testing.T) {
	hub := newTestDevice(t, true, "10.0.0.1/24")
	t.Cleanup(func() { hub.Close() })
	spoke := newTestDevice(t, false, "10.0.1.1/24")
	t.Cleanup(func() { spoke.Close() })
	const peers, perPeer, batch = 4, 300, 8
	want := peers * perPeer * batch

	var seen atomic.Int64
	got := make(chan error, 1)
	go func() {
		bufs := make([][]byte, 16)
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		sizes := make([]int, len(bufs))
		for {
			n, err := hub.Read(bufs, sizes, 0)
			if err != nil {
				got <- nil // closed once every packet is accounted for
				return
			}
			for i := range n {
				ip := header.IPv4(bufs[i][:sizes[i]])
				if ip.TTL() != 63 || !ip.IsChecksumValid() || len(header.UDP(ip.Payload()).Payload()) != 600 {
					got <- fmt.Errorf("forwarded packet %d: ttl %d, checksum valid %v, %d payload bytes; want ttl 63, valid, 600",
						seen.Load(), ip.TTL(), ip.IsChecksumValid(), len(header.UDP(ip.Payload()).Payload()))
					return
				}
				seen.Add(1)
			}
		}
	}()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var spokeWG sync.WaitGroup
	spokeWG.Add(2)
	go func() { // the spoke receives packets for itself: each one takes a buffer from gVisor's pool
		defer spokeWG.Done()
		payload := make([]byte, 600)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := spoke.Write([][]byte{udpPacket("10.0.1.2", "10.0.1.1", 64, payload)}, 0); err != nil {
				return
			}
		}
	}()
	go func() { // and answers with ICMP port unreachable, which nobody needs
		defer spokeWG.Done()
		bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
		for {
			if _, err := spoke.Read(bufs, sizes, 0); err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		spoke.Close()
		spokeWG.Wait()
	}()
	for p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, 600)
			src := fmt.Sprintf("10.0.0.%d", 10+p)
			bufs := make([][]byte, batch)
			for range perPeer {
				for i := range bufs {
					bufs[i] = udpPacket(src, "10.0.0.2", 64, payload)
				}
				if _, err := hub.Write(bufs, 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Every packet is read, or dropped at the full queue as a TUN drops: none may vanish elsewhere.
	deadline := time.Now().Add(10 * time.Second)
	for seen.Load()+int64(hub.Dropped()) < int64(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	hub.Close()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if n, dropped := seen.Load(), hub.Dropped(); n+int64(dropped) != int64(want) || n == 0 {
		t.Fatalf("%d packets forwarded and %d dropped at the queue, want %d in all", n, dropped, want)
	}
}
