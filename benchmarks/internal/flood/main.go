// Command flood sends WireGuard handshake initiations with a valid MAC1 at
// a hub's UDP port at a steady rate, for the suite's flood rows.
//
// A valid MAC1 is all an attacker who knows the hub's public key can forge.
// Such packets pass the first check and reach the handshake workers: while
// the device is not under load each costs a Diffie-Hellman and fails to
// decrypt; once the handshake queue backs up the device answers each with a
// cookie reply instead (MAC2 is missing). Everything else in the packets is
// random, so no two are alike.
//
//	flood -to 192.168.79.1:51820 -key HUBPUBLICKEY -rate 20000 -duration 12s
//
// When done (or on SIGINT/SIGTERM) it prints one JSON line: datagrams sent,
// seconds, and the cookie replies and other datagrams that came back.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Message layout of a handshake initiation (the WireGuard paper, §5.4.2):
// type (1, then 3 zero bytes), sender index, unencrypted ephemeral,
// encrypted static, encrypted timestamp, mac1, mac2.
const (
	initiationType = 1
	cookieType     = 3
	initiationSize = 148
	cookieSize     = 64
	mac1Offset     = initiationSize - 2*blake2s.Size128
	mac1Label      = "mac1----"
)

// poolSize is how many distinct initiations are prepared and cycled.
const poolSize = 4096

// mac1Key is HASH(LABEL_MAC1 || responder's public key), the key of every
// MAC1 sent to that responder.
func mac1Key(pub [32]byte) [blake2s.Size]byte {
	h, _ := blake2s.New256(nil)
	h.Write([]byte(mac1Label))
	h.Write(pub[:])
	var k [blake2s.Size]byte
	h.Sum(k[:0])
	return k
}

// initiation fills p (initiationSize bytes) with a random initiation whose
// MAC1 is valid for key; MAC2 stays zero (no cookie).
func initiation(p []byte, key *[blake2s.Size]byte) error {
	clear(p)
	binary.LittleEndian.PutUint32(p, initiationType)
	if _, err := rand.Read(p[4:mac1Offset]); err != nil {
		return fmt.Errorf("random bytes: %w", err)
	}
	m, err := blake2s.New128(key[:])
	if err != nil {
		return err
	}
	m.Write(p[:mac1Offset])
	m.Sum(p[mac1Offset:mac1Offset])
	return nil
}

// result is the line printed at the end.
type result struct {
	Sent          int64   `json:"sent"`
	Seconds       float64 `json:"seconds"`
	CookieReplies int64   `json:"cookie_replies"`
	OtherReplies  int64   `json:"other_replies"`
}

func main() {
	var (
		to       string
		keyB64   string
		rate     int
		duration time.Duration
	)
	flag.StringVar(&to, "to", "", "hub address and port")
	flag.StringVar(&keyB64, "key", "", "the hub's public key (base64)")
	flag.IntVar(&rate, "rate", 20000, "initiations per second")
	flag.DurationVar(&duration, "duration", 10*time.Second, "how long to send")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, to, keyB64, rate, duration)
	if err != nil {
		log.Error("flood failed", "err", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

func run(ctx context.Context, to, keyB64 string, rate int, duration time.Duration) (*result, error) {
	dst, err := netip.ParseAddrPort(to)
	if err != nil {
		return nil, fmt.Errorf("-to: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil || len(raw) != 32 {
		return nil, errors.New("-key: want a base64 WireGuard public key")
	}
	if rate < 1 || rate > 1_000_000 {
		return nil, fmt.Errorf("-rate %d: want 1 to 1000000", rate)
	}
	key := mac1Key([32]byte(raw))
	pool := make([][]byte, poolSize)
	for i := range pool {
		pool[i] = make([]byte, initiationSize)
		if err := initiation(pool[i], &key); err != nil {
			return nil, err
		}
	}

	c, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("opening a socket: %w", err)
	}
	defer c.Close()
	_ = c.SetWriteBuffer(4 << 20)
	var res result
	var cookies, others atomic.Int64
	go countReplies(c, &cookies, &others)

	// Send in sendmmsg batches of what is due every millisecond, so the
	// rate holds whatever the timer's granularity.
	type batchWriter interface {
		WriteBatch([]ipv4.Message, int) (int, error)
	}
	var bw batchWriter = ipv4.NewPacketConn(c)
	if dst.Addr().Is6() {
		bw = ipv6.NewPacketConn(c)
	}
	addr := net.UDPAddrFromAddrPort(dst)
	const maxBatch = 256
	msgs := make([]ipv4.Message, maxBatch)
	for i := range msgs {
		msgs[i].Addr = addr
		msgs[i].Buffers = make([][]byte, 1)
	}
	start := time.Now()
	next := 0
	for {
		elapsed := time.Since(start)
		if elapsed >= duration || ctx.Err() != nil {
			break
		}
		due := int64(elapsed.Seconds()*float64(rate)) - res.Sent
		for due > 0 {
			n := int(min(due, maxBatch))
			for i := range n {
				msgs[i].Buffers[0] = pool[next]
				next = (next + 1) % poolSize
			}
			sent, err := bw.WriteBatch(msgs[:n], 0)
			if err != nil && !errors.Is(err, syscall.ENOBUFS) && !errors.Is(err, syscall.EAGAIN) {
				return nil, fmt.Errorf("sending: %w", err)
			}
			sent = max(sent, 0)
			res.Sent += int64(sent)
			due -= int64(sent)
			if sent == 0 {
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	res.Seconds = time.Since(start).Seconds()
	// Replies to the last packets are still on their way.
	time.Sleep(100 * time.Millisecond)
	res.CookieReplies, res.OtherReplies = cookies.Load(), others.Load()
	return &res, nil
}

// countReplies reads what the hub sends back until c is closed.
func countReplies(c *net.UDPConn, cookies, others *atomic.Int64) {
	buf := make([]byte, 2048)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if n == cookieSize && binary.LittleEndian.Uint32(buf) == cookieType {
			cookies.Add(1)
		} else {
			others.Add(1)
		}
	}
}
