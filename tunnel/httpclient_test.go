package tunnel_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wgu-project/wgu/tunnel"
)

// HTTPClient is one client per tunnel: requests reuse its keep-alive
// connections instead of each call opening (and leaving idle) its own.
func TestHTTPClientReusesConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	server, client := twoTunnels(ctx)
	defer server.Close()
	defer client.Close()

	ln, err := server.Listen("tcp", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	defer srv.Close()

	if client.HTTPClient() != client.HTTPClient() {
		t.Fatal("HTTPClient returned a new client on the second call")
	}
	for i := range 5 {
		resp, err := client.HTTPClient().Get("http://10.0.0.1:8080/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 sequential requests opened %d connections, want 1", n)
	}

	client.Close()
	_, err = client.HTTPClient().Get("http://10.0.0.1:8080/")
	if !errors.Is(err, tunnel.ErrClosed) {
		t.Errorf("request after Close: err = %v, want ErrClosed", err)
	}
}
