package services

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wgu-project/wgu/internal/leakcheck"
)

// checkNoGoroutineLeak records the goroutines running now and, at cleanup (after every cleanup registered later),
// waits for every other one to end.
func checkNoGoroutineLeak(t *testing.T) {
	t.Helper()
	leakcheck.Check(t)
}

// startService runs svc.Serve in the background; cleanup closes it and checks Serve returned cleanly.
func startService(t *testing.T, svc Service) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- svc.Serve(context.Background()) }()
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
}

func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serveTCP runs handle for every connection on a loopback listener; cleanup stops it and waits for handlers.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln := listenTCP(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echoHandler copies everything back and half-closes when the client does.
func echoHandler(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
}

// sha256Handler reads to EOF, then answers the SHA-256 of what it read: it proves half-close travels through.
func sha256Handler(c net.Conn) {
	h := sha256.New()
	if _, err := io.Copy(h, c); err != nil {
		return
	}
	c.Write(h.Sum(nil))
}

// streamHandler writes forever, for tests that close a service mid-transfer.
func streamHandler(c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkEcho sends data through c to an echo server, half-closes, and checks the same bytes come back.
func checkEcho(c net.Conn, data []byte) error {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		errc <- err
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if werr := <-errc; werr != nil {
		return fmt.Errorf("write: %w", werr)
	}
	if err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		return fmt.Errorf("echo mismatch: sent %d bytes, got %d back", len(data), len(got))
	}
	return nil
}

// checkSHA256 sends data, half-closes, and checks the server's digest of it.
func checkSHA256(c net.Conn, data []byte) error {
	if _, err := c.Write(data); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return fmt.Errorf("CloseWrite: %w", err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("read digest: %w", err)
	}
	want := sha256.Sum256(data)
	if !bytes.Equal(got, want[:]) {
		return fmt.Errorf("digest mismatch: got %x want %x", got, want)
	}
	return nil
}

func TestTCPForwardAndExpose(t *testing.T) {
	data := randomBytes(t, 4<<20)
	tests := []struct {
		name  string
		start func(t *testing.T, target string) Service
	}{
		{"forward", func(t *testing.T, target string) Service {
			return NewTCPForward(listenTCP(t), HostNetwork{}, target, nil)
		}},
		{"expose", func(t *testing.T, target string) Service {
			ln, err := HostNetwork{}.Listen("tcp", "127.0.0.1:0") // stands in for the tunnel-side listener
			if err != nil {
				t.Fatal(err)
			}
			return NewTCPExpose(ln, target, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoGoroutineLeak(t)
			echo := serveTCP(t, echoHandler)
			digest := serveTCP(t, sha256Handler)
			echoSvc := tt.start(t, echo)
			startService(t, echoSvc)
			digestSvc := tt.start(t, digest)
			startService(t, digestSvc)

			var wg sync.WaitGroup
			for range 3 {
				wg.Add(2)
				ec := dialTCP(t, echoSvc.Addr().String())
				go func() {
					defer wg.Done()
					if err := checkEcho(ec, data); err != nil {
						t.Error(err)
					}
				}()
				dc := dialTCP(t, digestSvc.Addr().String())
				go func() {
					defer wg.Done()
					if err := checkSHA256(dc, data); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		})
	}
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTCPForwardTargetDown(t *testing.T) {
	checkNoGoroutineLeak(t)
	dead := listenTCP(t)
	target := dead.Addr().String()
	dead.Close()
	f := NewTCPForward(listenTCP(t), HostNetwork{}, target, nil)
	startService(t, f)
	c := dialTCP(t, f.Addr().String())
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read from a forward to a dead target succeeded")
	}
}

func TestCloseDuringTransfer(t *testing.T) {
	checkNoGoroutineLeak(t)
	stream := serveTCP(t, streamHandler)
	f := NewTCPForward(listenTCP(t), HostNetwork{}, stream, nil)
	done := make(chan error, 1)
	go func() { done <- f.Serve(context.Background()) }()

	var conns []net.Conn
	for range 4 {
		c := dialTCP(t, f.Addr().String())
		if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
			t.Fatalf("no data flowing: %v", err)
		}
		conns = append(conns, c)
	}
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while transfers ran")
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, net.ErrClosed) {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("client connection still open after Close")
			}
		}
	}
}

func TestServeStopsOnContext(t *testing.T) {
	checkNoGoroutineLeak(t)
	f := NewTCPForward(listenTCP(t), HostNetwork{}, "127.0.0.1:1", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return when its context ended")
	}
}
