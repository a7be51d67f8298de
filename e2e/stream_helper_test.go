package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/proxy"
)

// The "stream" helper mode: one TCP stream, either end, either direction, with the kernel's congestion control
// chosen per socket and, for a client, optionally through a SOCKS5 proxy. The lossy-underlay tests use it to
// compare a TUN spoke with a rootless spoke on equal terms.
const (
	helperRoleEnv     = "WGU_E2E_ROLE"     // listen-recv, listen-send, dial-recv or dial-send
	helperSOCKSEnv    = "WGU_E2E_SOCKS"    // dial through this SOCKS5 proxy (host:port)
	helperCCEnv       = "WGU_E2E_CC"       // the socket's congestion control (TCP_CONGESTION), e.g. cubic
	helperProgressEnv = "WGU_E2E_PROGRESS" // when set, a receiver prints "progress UNIXNANO BYTES" every 100 ms
)

// runStream runs the stream helper. It prints "listening" (listen roles), then "sha256 HEX BYTES",
// "elapsed SECONDS" (first to last byte, receivers) and "maxgap SECONDS" (the longest wait between two reads,
// receivers).
func runStream(addr string) error {
	role := os.Getenv(helperRoleEnv)
	size, _ := strconv.ParseInt(os.Getenv(helperBytesEnv), 10, 64)
	cc := os.Getenv(helperCCEnv)
	control := func(network, address string, c syscall.RawConn) error {
		if cc == "" {
			return nil
		}
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("TCP_CONGESTION %s: %w", cc, serr)
		}
		return nil
	}
	var c net.Conn
	switch role {
	case "listen-recv", "listen-send":
		lc := net.ListenConfig{Control: control}
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return err
		}
		fmt.Println("listening")
		c, err = ln.Accept()
		ln.Close()
		if err != nil {
			return err
		}
	case "dial-recv", "dial-send":
		d := &net.Dialer{Timeout: 5 * time.Second, Control: control}
		var dial func() (net.Conn, error)
		if p := os.Getenv(helperSOCKSEnv); p != "" {
			sd, err := proxy.SOCKS5("tcp", p, nil, d)
			if err != nil {
				return err
			}
			dial = func() (net.Conn, error) { return sd.Dial("tcp", addr) }
		} else {
			dial = func() (net.Conn, error) { return d.Dial("tcp", addr) }
		}
		deadline := time.Now().Add(helperDialWait)
		var err error
		for {
			if c, err = dial(); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: unknown role %q", helperRoleEnv, role)
	}
	defer c.Close()
	if role == "listen-send" || role == "dial-send" {
		return sendStream(c, size, 0)
	}
	return receiveStream(c, os.Getenv(helperProgressEnv) != "")
}

// sendStream sends size pseudo-random bytes (pausing pace after each chunk),
// half-closes, waits for the receiver to close, so that all data is
// acknowledged, and prints the sha256 the sink must print too.
func sendStream(c net.Conn, size int64, pace time.Duration) error {
	rng := rand.NewChaCha8([32]byte{'w', 'g', 'u'})
	h := sha256.New()
	buf := make([]byte, helperChunk)
	for sent := int64(0); sent < size; {
		chunk := buf[:min(int64(len(buf)), size-sent)]
		rng.Read(chunk)
		h.Write(chunk)
		if _, err := c.Write(chunk); err != nil {
			return fmt.Errorf("after %d bytes: %w", sent, err)
		}
		sent += int64(len(chunk))
		if pace > 0 {
			time.Sleep(pace)
		}
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			return err
		}
		io.Copy(io.Discard, c)
	}
	fmt.Printf("sha256 %s %d\n", hex.EncodeToString(h.Sum(nil)), size)
	return nil
}

// receiveStream hashes everything until EOF and reports timing.
func receiveStream(c net.Conn, progress bool) error {
	h := sha256.New()
	buf := make([]byte, helperChunk)
	var n atomic.Int64
	done := make(chan struct{})
	if progress {
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case now := <-t.C:
					fmt.Printf("progress %d %d\n", now.UnixNano(), n.Load())
				}
			}
		}()
	}
	var first, last time.Time
	var maxGap time.Duration
	for {
		k, err := c.Read(buf)
		if k > 0 {
			now := time.Now()
			if first.IsZero() {
				first = now
			} else if gap := now.Sub(last); gap > maxGap {
				maxGap = gap
			}
			last = now
			h.Write(buf[:k])
			n.Add(int64(k))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			close(done)
			return fmt.Errorf("after %d bytes: %w", n.Load(), err)
		}
	}
	close(done)
	fmt.Printf("sha256 %s %d\n", hex.EncodeToString(h.Sum(nil)), n.Load())
	fmt.Printf("elapsed %.6f\n", last.Sub(first).Seconds())
	fmt.Printf("maxgap %.6f\n", maxGap.Seconds())
	return nil
}
