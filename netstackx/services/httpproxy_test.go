package services

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func startHTTPProxy(t *testing.T, res *Resolver, user, pass string) *HTTPProxy {
	t.Helper()
	if res == nil {
		res = NewResolver(HostNetwork{}, nil)
	}
	p := NewHTTPProxy(listenTCP(t), HostNetwork{}, res, user, pass, nil)
	startService(t, p)
	return p
}

// originHandler answers with what the proxy let through: the path, selected request headers and a digest of the
// request body, then a large body of its own.
func originHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sum := sha256.Sum256(body)
	w.Header().Set("X-Path", r.URL.Path)
	w.Header().Set("X-Body-Sha256", hex.EncodeToString(sum[:]))
	w.Header().Set("X-Saw-Proxy-Authorization", fmt.Sprint(r.Header.Get("Proxy-Authorization") != ""))
	w.Header().Set("X-Saw-Hop", fmt.Sprint(r.Header.Get("X-Hop") != ""))
	w.Header().Set("X-Saw-End", fmt.Sprint(r.Header.Get("X-End") != ""))
	w.Header().Set("Connection", "X-Secret")
	w.Header().Set("X-Secret", "hop-by-hop")
	io.WriteString(w, strings.Repeat("0123456789abcdef", 1<<14))
}

func newProxyClient(t *testing.T, proxyAddr string, user *url.Userinfo, base *http.Transport) *http.Client {
	t.Helper()
	if base == nil {
		base = &http.Transport{}
	}
	tr := base.Clone()
	tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: proxyAddr, User: user})
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func TestHTTPProxyPlainRequest(t *testing.T) {
	tests := []struct {
		name       string
		serverUser string
		serverPass string
		client     *url.Userinfo
		wantStatus int
	}{
		{name: "no auth", wantStatus: http.StatusOK},
		{name: "basic auth", serverUser: "alice", serverPass: "pw", client: url.UserPassword("alice", "pw"), wantStatus: http.StatusOK},
		{name: "wrong password", serverUser: "alice", serverPass: "pw", client: url.UserPassword("alice", "nope"), wantStatus: http.StatusProxyAuthRequired},
		{name: "no credentials", serverUser: "alice", serverPass: "pw", wantStatus: http.StatusProxyAuthRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoGoroutineLeak(t)
			origin := httptest.NewServer(http.HandlerFunc(originHandler))
			t.Cleanup(origin.Close)
			p := startHTTPProxy(t, nil, tt.serverUser, tt.serverPass)
			client := newProxyClient(t, p.Addr().String(), tt.client, nil)

			for i := range 3 { // several requests over one kept-alive client connection
				reqBody := strings.Repeat("x", 10000*i)
				req, err := http.NewRequest(http.MethodPost, origin.URL+"/some/path", strings.NewReader(reqBody))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Connection", "X-Hop")
				req.Header.Set("X-Hop", "1")
				req.Header.Set("X-End", "1")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
				}
				if tt.wantStatus == http.StatusProxyAuthRequired {
					if !strings.HasPrefix(resp.Header.Get("Proxy-Authenticate"), "Basic") {
						t.Fatalf("407 without a Basic challenge: %v", resp.Header)
					}
					return
				}
				sum := sha256.Sum256([]byte(reqBody))
				checks := map[string]string{
					"X-Path":                    "/some/path",
					"X-Body-Sha256":             hex.EncodeToString(sum[:]),
					"X-Saw-Proxy-Authorization": "false",
					"X-Saw-Hop":                 "false",
					"X-Saw-End":                 "true",
					"X-Secret":                  "",
				}
				for k, want := range checks {
					if got := resp.Header.Get(k); got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
				if len(body) != 16<<14 {
					t.Fatalf("body %d bytes, want %d", len(body), 16<<14)
				}
			}
		})
	}
}

func TestHTTPProxyConnect(t *testing.T) {
	tests := []struct {
		name       string
		serverUser string
		serverPass string
		client     *url.Userinfo
		wantErr    bool
	}{
		{name: "no auth"},
		{name: "basic auth", serverUser: "alice", serverPass: "pw", client: url.UserPassword("alice", "pw")},
		{name: "wrong password", serverUser: "alice", serverPass: "pw", client: url.UserPassword("alice", "x"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoGoroutineLeak(t)
			origin := httptest.NewTLSServer(http.HandlerFunc(originHandler))
			t.Cleanup(origin.Close)
			p := startHTTPProxy(t, nil, tt.serverUser, tt.serverPass)
			client := newProxyClient(t, p.Addr().String(), tt.client, origin.Client().Transport.(*http.Transport))
			resp, err := client.Get(origin.URL + "/over/tls")
			if tt.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("CONNECT with a wrong password succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.Header.Get("X-Path") != "/over/tls" || len(body) != 16<<14 {
				t.Fatalf("path %q, %d bytes", resp.Header.Get("X-Path"), len(body))
			}
		})
	}
}

func TestHTTPProxyConnectDomainAndErrors(t *testing.T) {
	checkNoGoroutineLeak(t)
	echo := serveTCP(t, echoHandler)
	_, port, _ := net.SplitHostPort(echo)
	dead := listenTCP(t)
	deadAddr := dead.Addr().String()
	dead.Close()
	dns := startFakeDNS(t, map[string][]netip.Addr{"echo.tunnel.test.": {netip.MustParseAddr("127.0.0.1")}})
	p := startHTTPProxy(t, newResolverAddrPorts(HostNetwork{}, []netip.AddrPort{dns.addr}), "", "")

	connect := func(target string) (net.Conn, *bufio.Reader, int) {
		c := dialTCP(t, p.Addr().String())
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("CONNECT %s: %v", target, err)
		}
		return c, br, resp.StatusCode
	}

	c, br, code := connect(net.JoinHostPort("echo.tunnel.test", port))
	if code != http.StatusOK {
		t.Fatalf("CONNECT by name: status %d", code)
	}
	io.WriteString(c, "ping")
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
		t.Fatalf("through CONNECT: %q, %v", got, err)
	}
	for _, target := range []string{deadAddr, "nowhere.tunnel.test:80"} {
		if _, _, code := connect(target); code != http.StatusBadGateway {
			t.Errorf("CONNECT %s: status %d, want 502", target, code)
		}
	}

	// A request that is not a proxy request (no absolute URI) is refused.
	c2 := dialTCP(t, p.Addr().String())
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c2, "GET /local HTTP/1.1\r\nHost: example\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("origin-form request: %v, %v", resp, err)
	}
}

func TestHTTPProxyCloseDuringTransfer(t *testing.T) {
	checkNoGoroutineLeak(t)
	stream := serveTCP(t, streamHandler)
	p := NewHTTPProxy(listenTCP(t), HostNetwork{}, NewResolver(HostNetwork{}, nil), "", "", nil)
	done := make(chan error, 1)
	go func() { done <- p.Serve(t.Context()) }()
	for range 3 {
		c := dialTCP(t, p.Addr().String())
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", stream, stream)
		br := bufio.NewReader(c)
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %v, %v", resp, err)
		}
		if _, err := io.ReadFull(br, make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestHTTPProxyExpectContinue(t *testing.T) {
	checkNoGoroutineLeak(t)
	origin := httptest.NewServer(http.HandlerFunc(originHandler))
	t.Cleanup(origin.Close)
	p := startHTTPProxy(t, nil, "", "")
	c := dialTCP(t, p.Addr().String())
	c.SetDeadline(time.Now().Add(10 * time.Second))
	host := strings.TrimPrefix(origin.URL, "http://")
	fmt.Fprintf(c, "POST %s/upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", origin.URL, host)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue first, got %v, %v", resp, err)
	}
	io.WriteString(c, "hello")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256([]byte("hello"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Body-Sha256") != hex.EncodeToString(sum[:]) {
		t.Fatalf("status %d, body digest %q", resp.StatusCode, resp.Header.Get("X-Body-Sha256"))
	}
}
