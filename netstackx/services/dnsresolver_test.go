package services

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS is a tiny authoritative server on 127.0.0.1 (UDP and TCP on one port). Names it knows answer with their
// records; names starting with "truncated." are truncated over UDP (the full answer comes over TCP); names starting
// with "servfail." get SERVFAIL; anything else is NXDOMAIN.
type fakeDNS struct {
	addr       netip.AddrPort
	records    map[string][]netip.Addr
	udpQueries atomic.Int32
	tcpQueries atomic.Int32
}

func startFakeDNS(t *testing.T, records map[string][]netip.Addr) *fakeDNS {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	d := &fakeDNS{addr: pc.LocalAddr().(*net.UDPAddr).AddrPort(), records: records}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			d.udpQueries.Add(1)
			if resp := d.answer(buf[:n], true); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.tcpQueries.Add(1)
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err == nil {
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err == nil {
					if resp := d.answer(q, false); resp != nil {
						c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(resp))))
						c.Write(resp)
					}
				}
			}
			c.Close()
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		wg.Wait()
	})
	return d
}

func (d *fakeDNS) answer(query []byte, overUDP bool) []byte {
	var q dnsmessage.Message
	if q.Unpack(query) != nil || len(q.Questions) != 1 {
		return nil
	}
	question := q.Questions[0]
	name := strings.ToLower(question.Name.String())
	resp := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: q.Header.ID, Response: true, Authoritative: true, RecursionDesired: q.Header.RecursionDesired},
		Questions: q.Questions,
	}
	addrs, known := d.records[name]
	switch {
	case strings.HasPrefix(name, "servfail."):
		resp.Header.RCode = dnsmessage.RCodeServerFailure
	case !known:
		resp.Header.RCode = dnsmessage.RCodeNameError
	case strings.HasPrefix(name, "truncated.") && overUDP:
		resp.Header.Truncated = true
	default:
		hdr := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 60}
		for _, a := range addrs {
			switch {
			case a.Is4() && question.Type == dnsmessage.TypeA:
				h := hdr
				h.Type = dnsmessage.TypeA
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: a.As4()}})
			case a.Is6() && question.Type == dnsmessage.TypeAAAA:
				h := hdr
				h.Type = dnsmessage.TypeAAAA
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
			}
		}
	}
	b, err := resp.Pack()
	if err != nil {
		return nil
	}
	return b
}

func TestResolver(t *testing.T) {
	checkNoGoroutineLeak(t)
	v4 := netip.MustParseAddr("10.1.2.3")
	v6 := netip.MustParseAddr("fd00::7")
	dns := startFakeDNS(t, map[string][]netip.Addr{
		"both.test.":      {v4, v6},
		"v4.test.":        {v4},
		"truncated.test.": {v4},
		"empty.test.":     {},
		"servfail.test.":  {v4},
	})
	failing := startFakeDNS(t, map[string][]netip.Addr{})
	tests := []struct {
		name     string
		servers  []netip.AddrPort
		host     string
		want     []netip.Addr
		notFound bool
		wantErr  bool
	}{
		{name: "A and AAAA", servers: []netip.AddrPort{dns.addr}, host: "both.test", want: []netip.Addr{v4, v6}},
		{name: "FQDN", servers: []netip.AddrPort{dns.addr}, host: "v4.test.", want: []netip.Addr{v4}},
		{name: "case-insensitive", servers: []netip.AddrPort{dns.addr}, host: "V4.Test", want: []netip.Addr{v4}},
		{name: "IPv4 literal", host: "192.0.2.1", want: []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
		{name: "IPv6 literal", servers: []netip.AddrPort{dns.addr}, host: "[2001:db8::1]", want: []netip.Addr{netip.MustParseAddr("2001:db8::1")}},
		{name: "truncated falls back to TCP", servers: []netip.AddrPort{dns.addr}, host: "truncated.test", want: []netip.Addr{v4}},
		{name: "NXDOMAIN", servers: []netip.AddrPort{dns.addr}, host: "nope.test", notFound: true},
		{name: "no records", servers: []netip.AddrPort{dns.addr}, host: "empty.test", notFound: true},
		{name: "SERVFAIL only", servers: []netip.AddrPort{dns.addr}, host: "servfail.test", wantErr: true},
		{name: "first server refuses, second answers", servers: []netip.AddrPort{closedUDPPort(t), dns.addr}, host: "v4.test", want: []netip.Addr{v4}},
		{name: "NXDOMAIN stops the search", servers: []netip.AddrPort{failing.addr, dns.addr}, host: "v4.test", notFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolverAddrPorts(HostNetwork{}, tt.servers)
			got, err := r.LookupNetIP(context.Background(), tt.host)
			switch {
			case tt.notFound:
				var dnsErr *net.DNSError
				if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
					t.Fatalf("got %v, %v; want a not-found DNSError", got, err)
				}
			case tt.wantErr:
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
	if dns.tcpQueries.Load() == 0 {
		t.Error("no query came over TCP after truncation")
	}
}

// closedUDPPort returns a loopback UDP port nobody listens on: queries to it fail fast with "connection refused".
func closedUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	return ap
}

func TestNewResolverUsesPort53(t *testing.T) {
	r := NewResolver(HostNetwork{}, []netip.Addr{netip.MustParseAddr("192.0.2.53")})
	if len(r.servers) != 1 || r.servers[0] != netip.MustParseAddrPort("192.0.2.53:53") {
		t.Fatalf("servers = %v", r.servers)
	}
}
