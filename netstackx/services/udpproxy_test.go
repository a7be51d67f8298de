package services

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// serveUDPEcho answers every datagram with "echo:" and the datagram; it returns the server's address.
func serveUDPEcho(t *testing.T) *net.UDPAddr {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().(*net.UDPAddr)
}

func TestUDPProxy(t *testing.T) {
	checkNoGoroutineLeak(t)
	echo := serveUDPEcho(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const idle = 300 * time.Millisecond
	p := NewUDPProxy(pc, HostNetwork{}, echo.String(), idle, nil)
	startService(t, p)

	// Two clients get separate tunnel-side sockets and each gets its own answers.
	var clients []net.Conn
	for range 2 {
		c, err := net.Dial("udp", p.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
	}
	for round := range 3 {
		for i, c := range clients {
			msg := []byte(fmt.Sprintf("client %d round %d", i, round))
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 1500)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			if want := append([]byte("echo:"), msg...); !bytes.Equal(buf[:n], want) {
				t.Fatalf("client %d got %q, want %q", i, buf[:n], want)
			}
		}
	}
	if n := udpSessions(p); n != 2 {
		t.Fatalf("%d sessions, want 2", n)
	}

	// Idle sessions go away, and a client that speaks again gets a fresh one.
	deadline := time.Now().Add(5 * time.Second)
	for udpSessions(p) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still open after the idle timeout", udpSessions(p))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := clients[0].Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	clients[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, err := clients[0].Read(buf)
	if err != nil || string(buf[:n]) != "echo:again" {
		t.Fatalf("after idle: got %q, %v", buf[:n], err)
	}
}

func TestUDPProxyDefaultIdle(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := NewUDPProxy(pc, HostNetwork{}, "127.0.0.1:9", 0, nil)
	defer p.Close()
	if p.idle != 60*time.Second {
		t.Fatalf("idle = %v, want 60s", p.idle)
	}
}

func udpSessions(p *UDPProxy) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)
}
