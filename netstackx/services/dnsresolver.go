package services

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsPort is where DNS servers listen; tests point the resolver elsewhere through newResolverAddrPorts.
const dnsPort = 53

// dnsAttemptTimeout bounds one query to one server, so a dead server costs seconds, not the caller's whole budget.
const dnsAttemptTimeout = 3 * time.Second

// maxDNSMessage is the largest DNS message over UDP we accept (EDNS0 sizes included) and the TCP limit.
const maxDNSMessage = 65535

// Resolver resolves names for the proxies through the config's DNS servers, over Network, so lookups travel
// through the tunnel and never leak to the host's resolver. With no servers it falls back to the host resolver.
type Resolver struct {
	net     Network
	servers []netip.AddrPort
}

// NewResolver returns a resolver asking servers (port 53), in order, over n.
func NewResolver(n Network, servers []netip.Addr) *Resolver {
	aps := make([]netip.AddrPort, 0, len(servers))
	for _, s := range servers {
		aps = append(aps, netip.AddrPortFrom(s, dnsPort))
	}
	return newResolverAddrPorts(n, aps)
}

// newResolverAddrPorts is NewResolver with explicit server ports (tests run their DNS server on a free port).
func newResolverAddrPorts(n Network, servers []netip.AddrPort) *Resolver {
	return &Resolver{net: n, servers: servers}
}

// LookupNetIP returns the IPv4 (A) then IPv6 (AAAA) addresses of host. IP literals are returned as they are.
func (r *Resolver) LookupNetIP(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{ip}, nil
	}
	if len(r.servers) == 0 {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %q on the host: %w", host, err)
		}
		return addrs, nil
	}
	name, err := dnsmessage.NewName(dnsFQDN(host))
	if err != nil {
		return nil, &net.DNSError{Err: "invalid name", Name: host, IsNotFound: true}
	}
	var lastErr error
	for _, server := range r.servers {
		addrs, err := r.lookupAt(ctx, server, name)
		if err == nil {
			if len(addrs) == 0 {
				return nil, &net.DNSError{Err: "no such host", Name: host, Server: server.String(), IsNotFound: true}
			}
			return addrs, nil
		}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			// An authoritative "no such name" is an answer: asking the next server would only leak the query.
			return nil, err
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("resolve %q: %w", host, lastErr)
}

// dnsFQDN makes host absolute, as DNS names on the wire are.
func dnsFQDN(host string) string {
	if strings.HasSuffix(host, ".") {
		return host
	}
	return host + "."
}

// lookupAt asks one server for the A and AAAA records of name, both at once. One type failing while the other
// answers still gives an answer: some servers mishandle AAAA, and a tunnel is often IPv4 only anyway.
func (r *Resolver) lookupAt(ctx context.Context, server netip.AddrPort, name dnsmessage.Name) ([]netip.Addr, error) {
	type result struct {
		addrs []netip.Addr
		err   error
	}
	aaaa := make(chan result, 1)
	go func() {
		addrs, err := r.query(ctx, server, name, dnsmessage.TypeAAAA)
		aaaa <- result{addrs, err}
	}()
	v4, errA := r.query(ctx, server, name, dnsmessage.TypeA)
	v6 := <-aaaa
	var dnsErr *net.DNSError
	for _, err := range []error{errA, v6.err} {
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, err
		}
	}
	if errA != nil && v6.err != nil {
		return nil, errA
	}
	return append(v4, v6.addrs...), nil
}

// query sends one question over UDP, retrying over TCP when the answer is truncated, and returns the addresses.
func (r *Resolver) query(ctx context.Context, server netip.AddrPort, name dnsmessage.Name, qtype dnsmessage.Type) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, dnsAttemptTimeout)
	defer cancel()
	id := uint16(rand.Uint32())
	q := dnsmessage.Question{Name: name, Type: qtype, Class: dnsmessage.ClassINET}
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{q},
	}
	packed, err := msg.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack DNS query: %w", err)
	}
	resp, err := r.exchangeUDP(ctx, server, packed, id, q)
	if err != nil {
		return nil, err
	}
	if resp.Header.Truncated {
		if resp, err = r.exchangeTCP(ctx, server, packed, id, q); err != nil {
			return nil, err
		}
	}
	return answerAddrs(resp, server, name, qtype)
}

// exchangeUDP sends packed and waits for the response that matches id and question, ignoring strays.
func (r *Resolver) exchangeUDP(ctx context.Context, server netip.AddrPort, packed []byte, id uint16, q dnsmessage.Question) (*dnsmessage.Message, error) {
	c, err := r.net.DialContext(ctx, "udp", server.String())
	if err != nil {
		return nil, fmt.Errorf("DNS server %s: %w", server, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	if _, err := c.Write(packed); err != nil {
		return nil, fmt.Errorf("DNS server %s: send: %w", server, err)
	}
	buf := make([]byte, maxDNSMessage)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("DNS server %s: receive: %w", server, err)
		}
		var resp dnsmessage.Message
		if resp.Unpack(buf[:n]) != nil {
			if truncatedHeaderMatches(buf[:n], id) {
				return &dnsmessage.Message{Header: dnsmessage.Header{ID: id, Response: true, Truncated: true}}, nil
			}
			continue
		}
		if resp.Header.ID != id || !resp.Header.Response {
			continue
		}
		if len(resp.Questions) > 0 && !sameQuestion(resp.Questions[0], q) {
			continue
		}
		return &resp, nil
	}
}

// truncatedHeaderMatches reports whether a message too mangled to unpack in full is a truncated answer to id; the
// TCP retry then gets the full answer.
func truncatedHeaderMatches(b []byte, id uint16) bool {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	return err == nil && h.ID == id && h.Truncated && h.Response
}

// exchangeTCP sends packed with the two-byte length prefix of DNS over TCP and reads one response.
func (r *Resolver) exchangeTCP(ctx context.Context, server netip.AddrPort, packed []byte, id uint16, q dnsmessage.Question) (*dnsmessage.Message, error) {
	c, err := r.net.DialContext(ctx, "tcp", server.String())
	if err != nil {
		return nil, fmt.Errorf("DNS server %s over TCP: %w", server, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	out := make([]byte, 2+len(packed))
	binary.BigEndian.PutUint16(out, uint16(len(packed)))
	copy(out[2:], packed)
	if _, err := c.Write(out); err != nil {
		return nil, fmt.Errorf("DNS server %s over TCP: send: %w", server, err)
	}
	var lenBuf [2]byte
	if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("DNS server %s over TCP: receive: %w", server, err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, fmt.Errorf("DNS server %s over TCP: receive: %w", server, err)
	}
	var resp dnsmessage.Message
	if err := resp.Unpack(buf); err != nil {
		return nil, fmt.Errorf("DNS server %s over TCP: bad answer: %w", server, err)
	}
	if resp.Header.ID != id || !resp.Header.Response || len(resp.Questions) > 0 && !sameQuestion(resp.Questions[0], q) {
		return nil, fmt.Errorf("DNS server %s over TCP: answer does not match the query", server)
	}
	return &resp, nil
}

func sameQuestion(a, b dnsmessage.Question) bool {
	return a.Type == b.Type && a.Class == b.Class && strings.EqualFold(a.Name.String(), b.Name.String())
}

// answerAddrs extracts the addresses of the wanted type from resp. NXDOMAIN becomes a not-found DNSError; other
// failures are errors that make the caller try the next server. CNAME chains are followed by trusting that the
// server put the final records in the same answer, as recursive resolvers do.
func answerAddrs(resp *dnsmessage.Message, server netip.AddrPort, name dnsmessage.Name, qtype dnsmessage.Type) ([]netip.Addr, error) {
	switch resp.Header.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return nil, &net.DNSError{Err: "no such host", Name: strings.TrimSuffix(name.String(), "."), Server: server.String(), IsNotFound: true}
	default:
		return nil, &net.DNSError{Err: "server failure: " + resp.Header.RCode.String(), Name: strings.TrimSuffix(name.String(), "."), Server: server.String()}
	}
	var addrs []netip.Addr
	for _, rr := range resp.Answers {
		switch body := rr.Body.(type) {
		case *dnsmessage.AResource:
			if qtype == dnsmessage.TypeA {
				addrs = append(addrs, netip.AddrFrom4(body.A))
			}
		case *dnsmessage.AAAAResource:
			if qtype == dnsmessage.TypeAAAA {
				addrs = append(addrs, netip.AddrFrom16(body.AAAA))
			}
		}
	}
	return addrs, nil
}
