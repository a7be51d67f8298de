package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// More helper modes, for the services of a rootless tunnel. Each listening
// mode prints "listening" once ready; each client mode prints "ok" when it
// got what it expected.
const (
	helperAnswerEnv  = "WGU_E2E_ANSWER"  // dns: the IPv4 address every A query gets; http: the body
	helperTargetEnv  = "WGU_E2E_TARGET"  // socks5udp: the UDP target behind the proxy
	helperStreamsEnv = "WGU_E2E_STREAMS" // streams: how many concurrent connections
	helperForEnv     = "WGU_E2E_FOR"     // streams: for how long (a time.Duration)
)

func runServiceHelper(mode, addr string) error {
	switch mode {
	case "http":
		return runHTTPServer(addr, os.Getenv(helperAnswerEnv))
	case "dns":
		return runDNSServer(addr, os.Getenv(helperAnswerEnv))
	case "udpecho":
		return runUDPEcho(addr)
	case "echo":
		return runTCPEcho(addr)
	case "udpclient":
		return runUDPClient(addr)
	case "socks5udp":
		return runSOCKS5UDP(addr, os.Getenv(helperTargetEnv))
	case "stream":
		return runStream(addr)
	case "library":
		return runLibraryServer(os.Getenv(helperConfigEnv))
	case "streams":
		n, err := strconv.Atoi(os.Getenv(helperStreamsEnv))
		if err != nil {
			return err
		}
		d, err := time.ParseDuration(os.Getenv(helperForEnv))
		if err != nil {
			return err
		}
		return runStreams(addr, n, d)
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

func runHTTPServer(addr, body string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}))
}

// runDNSServer answers every A question with answer, and AAAA with no
// records, over UDP: enough for the proxies' resolver.
func runDNSServer(addr, answer string) error {
	ip, err := netip.ParseAddr(answer)
	if err != nil || !ip.Is4() {
		return fmt.Errorf("dns answer %q: expected an IPv4 address", answer)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		var m dnsmessage.Message
		if err := m.Unpack(buf[:n]); err != nil || len(m.Questions) != 1 {
			continue
		}
		q := m.Questions[0]
		m.Header.Response, m.Header.Authoritative = true, true
		m.Answers = nil
		if q.Type == dnsmessage.TypeA {
			m.Answers = append(m.Answers, dnsmessage.Resource{
				Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
				Body:   &dnsmessage.AResource{A: ip.As4()},
			})
		}
		if out, err := m.Pack(); err == nil {
			pc.WriteTo(out, from)
		}
	}
}

func runUDPEcho(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		pc.WriteTo(buf[:n], from)
	}
}

func runTCPEcho(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

// udpRoundTrip sends a random datagram on c and expects it back, retrying
// while the tunnel comes up.
func udpRoundTrip(c net.Conn) error {
	msg := make([]byte, 512)
	rand.Read(msg)
	buf := make([]byte, 2048)
	for try := 0; try < 20; try++ {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			if !bytes.Equal(buf[:n], msg) {
				return fmt.Errorf("echo differs: got %d bytes", n)
			}
			return nil
		}
	}
	return errors.New("no UDP echo after 20 tries")
}

func runUDPClient(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := udpRoundTrip(c); err != nil {
		return err
	}
	fmt.Println("ok")
	return nil
}

// runSOCKS5UDP does a SOCKS5 UDP ASSOCIATE at proxy and echoes a datagram
// off target through it (RFC 1928, no authentication).
func runSOCKS5UDP(proxy, target string) error {
	tgt, err := netip.ParseAddrPort(target)
	if err != nil || !tgt.Addr().Is4() {
		return fmt.Errorf("target %q: expected IPv4:port", target)
	}
	ctl, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		return err
	}
	defer ctl.Close()
	ctl.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := ctl.Write([]byte{5, 1, 0}); err != nil {
		return err
	}
	reply := make([]byte, 2)
	if _, err := io.ReadFull(ctl, reply); err != nil || reply[1] != 0 {
		return fmt.Errorf("method negotiation: %v %v", reply, err)
	}
	// ASSOCIATE with 0.0.0.0:0: we do not know our client address yet.
	if _, err := ctl.Write([]byte{5, 3, 0, 1, 0, 0, 0, 0, 0, 0}); err != nil {
		return err
	}
	rep := make([]byte, 10)
	if _, err := io.ReadFull(ctl, rep); err != nil || rep[1] != 0 || rep[3] != 1 {
		return fmt.Errorf("UDP ASSOCIATE reply %v: %v", rep, err)
	}
	relay := netip.AddrPortFrom(netip.AddrFrom4([4]byte(rep[4:8])), binary.BigEndian.Uint16(rep[8:10]))
	if relay.Addr().IsUnspecified() {
		relay = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), relay.Port())
	}
	u, err := net.Dial("udp", relay.String())
	if err != nil {
		return err
	}
	defer u.Close()
	hdr := append([]byte{0, 0, 0, 1}, tgt.Addr().AsSlice()...)
	hdr = binary.BigEndian.AppendUint16(hdr, tgt.Port())
	msg := make([]byte, 256)
	rand.Read(msg)
	buf := make([]byte, 2048)
	for try := 0; try < 20; try++ {
		if _, err := u.Write(append(append([]byte(nil), hdr...), msg...)); err != nil {
			return err
		}
		u.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := u.Read(buf)
		if err != nil {
			continue
		}
		if n < len(hdr) || !bytes.Equal(buf[len(hdr):n], msg) {
			return fmt.Errorf("reply through the relay differs (%d bytes)", n)
		}
		fmt.Println("ok")
		return nil
	}
	return errors.New("no reply through SOCKS5 UDP after 20 tries")
}

// runStreams keeps n TCP connections to an echo server busy for d, each
// checking that what comes back is what it sent.
func runStreams(addr string, n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	errs := make(chan error, n)
	var total int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			out, in := make([]byte, 16<<10), make([]byte, 16<<10)
			var moved int64
			for time.Now().Before(deadline) {
				rand.Read(out)
				c.SetDeadline(time.Now().Add(15 * time.Second))
				if _, err := c.Write(out); err != nil {
					errs <- fmt.Errorf("write after %d bytes: %w", moved, err)
					return
				}
				if _, err := io.ReadFull(c, in); err != nil {
					errs <- fmt.Errorf("read after %d bytes: %w", moved, err)
					return
				}
				if !bytes.Equal(in, out) {
					errs <- fmt.Errorf("echo differs after %d bytes", moved)
					return
				}
				moved += int64(len(out))
			}
			mu.Lock()
			total += moved
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	fmt.Printf("ok %d streams, %d bytes echoed\n", n, total)
	return nil
}

// commandContext is exec.CommandContext, for tests that need no namespace.
func commandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}
