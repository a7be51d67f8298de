package uapi

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const sampleGet = `private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a
listen_port=51820
fwmark=51820
public_key=b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33
preshared_key=188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52
protocol_version=1
endpoint=[fe80::1%eth0]:51821
last_handshake_time_sec=1795571677
last_handshake_time_nsec=123
tx_bytes=1012
rx_bytes=764
persistent_keepalive_interval=25
allowed_ip=0.0.0.0/0
allowed_ip=::/0
public_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376
preshared_key=0000000000000000000000000000000000000000000000000000000000000000
last_handshake_time_sec=0
last_handshake_time_nsec=0
tx_bytes=0
rx_bytes=0
persistent_keepalive_interval=0
some_future_key=ignored
errno=0

`

func TestParseUAPIStatus(t *testing.T) {
	st, err := ParseStatus(bufio.NewReader(strings.NewReader(sampleGet)))
	if err != nil {
		t.Fatal(err)
	}
	if st.ListenPort != 51820 || st.FwMark != 51820 || st.PrivateKey.IsZero() || len(st.Peers) != 2 {
		t.Fatalf("status = %+v", st)
	}
	p := st.Peers[0]
	if p.Endpoint.String() != "[fe80::1%eth0]:51821" || p.RxBytes != 764 || p.TxBytes != 1012 ||
		p.PersistentKeepalive != 25 || len(p.AllowedIPs) != 2 || p.PresharedKey.IsZero() {
		t.Errorf("peer 0 = %+v", p)
	}
	if !p.LastHandshake.Equal(time.Unix(1795571677, 123)) {
		t.Errorf("handshake %v", p.LastHandshake)
	}
	q := st.Peers[1]
	if !q.LastHandshake.IsZero() || !q.PresharedKey.IsZero() || !q.Endpoint.IsZero() || len(q.AllowedIPs) != 0 {
		t.Errorf("peer 1 = %+v", q)
	}
}

// The peers' AllowedIPs share one backing array; appending to one peer's
// must not change the next one's.
func TestParseUAPIStatusAllowedIPsApart(t *testing.T) {
	reply := "public_key=" + strings.Repeat("11", 32) + "\nallowed_ip=10.0.0.1/32\n" +
		"public_key=" + strings.Repeat("22", 32) + "\nallowed_ip=10.0.0.2/32\nerrno=0\n\n"
	st, err := ParseStatus(bufio.NewReader(strings.NewReader(reply)))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(st.Peers[0].AllowedIPs, netip.MustParsePrefix("192.0.2.0/24"))
	if got := st.Peers[1].AllowedIPs; len(got) != 1 || got[0] != netip.MustParsePrefix("10.0.0.2/32") {
		t.Errorf("peer 1's AllowedIPs = %v after appending to peer 0's", got)
	}
}

// ReadStatus hands over what ParseStatus collects: the device first, then
// each peer complete, in order, with its own AllowedIPs although their
// memory is reused.
func TestReadStatusVisitsWhatParseStatusCollects(t *testing.T) {
	reply := string(hubGetReply(50))
	want, err := ParseStatus(bufio.NewReader(strings.NewReader(reply)))
	if err != nil {
		t.Fatal(err)
	}
	var dev *Status
	var peers []PeerStatus
	err = ReadStatus(bufio.NewReader(strings.NewReader(reply)), StatusVisitor{
		Device: func(st *Status) error {
			if dev != nil || len(peers) != 0 {
				t.Error("Device called twice, or after a peer")
			}
			dev = st
			return nil
		},
		Peer: func(p *PeerStatus) error {
			if dev == nil {
				t.Error("a peer before Device")
			}
			c := *p
			c.AllowedIPs = slices.Clone(p.AllowedIPs)
			peers = append(peers, c)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if dev == nil || dev.ListenPort != want.ListenPort || dev.PrivateKey.Reveal() != want.PrivateKey.Reveal() || len(dev.Peers) != 0 {
		t.Fatalf("device = %+v", dev)
	}
	if !reflect.DeepEqual(peers, want.Peers) {
		t.Errorf("visited peers differ from the parsed ones:\n%+v\n%+v", peers[:2], want.Peers[:2])
	}

	// Without peers, Device comes at the end.
	called := false
	if err := ReadStatus(bufio.NewReader(strings.NewReader("listen_port=7\nerrno=0\n\n")), StatusVisitor{
		Device: func(st *Status) error { called = st.ListenPort == 7; return nil },
	}); err != nil || !called {
		t.Errorf("no peers: Device called with the port: %v, err %v", called, err)
	}
}

// A visitor's error ends the read and comes back as it is, not as the
// reply's fault; a bad reply after some peers is still an error.
func TestReadStatusErrors(t *testing.T) {
	stop := errors.New("stdout closed")
	n := 0
	err := ReadStatus(bufio.NewReader(strings.NewReader(string(hubGetReply(10)))), StatusVisitor{
		Peer: func(*PeerStatus) error {
			if n++; n == 3 {
				return stop
			}
			return nil
		},
	})
	if err != stop || n != 3 {
		t.Errorf("after the visitor's error: %d peers, err %v", n, err)
	}
	if err := ReadStatus(bufio.NewReader(strings.NewReader(strings.Replace(sampleGet, "errno=0", "errno=5", 1))), StatusVisitor{}); !errors.Is(err, ErrProtocol) {
		t.Errorf("errno after the peers: %v", err)
	}
}

func TestParseUAPIStatusErrors(t *testing.T) {
	for name, reply := range map[string]string{
		"errno":        "errno=-22\n\n",
		"no errno":     "listen_port=1\n",
		"no blank":     "errno=0\n",
		"bad key":      "public_key=zz\nerrno=0\n\n",
		"not kv":       "garbage\nerrno=0\n\n",
		"bad port":     "listen_port=70000\nerrno=0\n\n",
		"empty line":   "\nerrno=0\n\n",
		"long line":    "fwmark=" + strings.Repeat("1", maxUAPILine) + "\nerrno=0\n\n",
		"bad endpoint": "public_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376\nendpoint=nowhere\nerrno=0\n\n",
	} {
		if _, err := ParseStatus(bufio.NewReader(strings.NewReader(reply))); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err = %v, want ErrUAPI", name, err)
		}
	}
}

func FuzzParseUAPIStatus(f *testing.F) {
	f.Add(sampleGet)
	f.Add("errno=0\n\n")
	f.Fuzz(func(t *testing.T, reply string) {
		st, err := ParseStatus(bufio.NewReader(strings.NewReader(reply)))
		if err == nil && st == nil {
			t.Fatal("nil status without error")
		}
	})
}

// fakeUAPI serves one connection on a fresh socket with reply, recording
// what the client sent.
func fakeUAPI(t *testing.T, reply string) (path string, got chan string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "wgt0.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var req strings.Builder
		for {
			line, err := r.ReadString('\n')
			req.WriteString(line)
			if err != nil || line == "\n" {
				break
			}
		}
		got <- req.String()
		c.Write([]byte(reply))
	}()
	return path, got
}

func TestGetStatus(t *testing.T) {
	path, got := fakeUAPI(t, sampleGet)
	st, err := Get(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if req := <-got; req != "get=1\n\n" {
		t.Errorf("request %q", req)
	}
	if st.Name != "wgt0" || len(st.Peers) != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestSetUAPI(t *testing.T) {
	path, got := fakeUAPI(t, "errno=0\n\n")
	if err := Set(context.Background(), path, "listen_port=1234"); err != nil {
		t.Fatal(err)
	}
	if req := <-got; req != "set=1\nlisten_port=1234\n\n" {
		t.Errorf("request %q", req)
	}
	path, _ = fakeUAPI(t, "errno=-98\n\n")
	if err := Set(context.Background(), path, "listen_port=1\n"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("err = %v, want EADDRINUSE", err)
	}
}

func TestGetStatusTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slow.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			time.Sleep(2 * time.Second)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Get(ctx, path); err == nil {
		t.Fatal("a silent daemon did not time out")
	}
}
