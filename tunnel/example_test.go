package tunnel_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"time"

	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
)

// twoTunnels brings up a server tunnel (10.0.0.1) and a client tunnel
// (10.0.0.2) in this process, joined over loopback UDP: what two hosts
// would run, each with its own config.
func twoTunnels(ctx context.Context) (server, client *tunnel.Tunnel) {
	serverKey, err := config.GeneratePrivateKey()
	if err != nil {
		log.Fatal(err)
	}
	clientKey, err := config.GeneratePrivateKey()
	if err != nil {
		log.Fatal(err)
	}
	server, err = tunnel.Up(ctx, &config.Config{
		Name: "server",
		Interface: config.Interface{
			PrivateKey: serverKey,
			Addresses:  []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")},
			// ListenPort 0: the system picks a free UDP port.
		},
		Peers: []config.Peer{{
			PublicKey:  clientKey.PublicKey(),
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
		}},
	}, tunnel.WithMode(tunnel.ModeNetstack))
	if err != nil {
		log.Fatal(err)
	}
	st, err := server.Status()
	if err != nil {
		log.Fatal(err)
	}
	client, err = tunnel.Up(ctx, &config.Config{
		Name: "client",
		Interface: config.Interface{
			PrivateKey: clientKey,
			Addresses:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")},
		},
		Peers: []config.Peer{{
			PublicKey:  serverKey.PublicKey(),
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")},
			Endpoint:   config.Endpoint{Host: "127.0.0.1", Port: st.ListenPort},
		}},
	}, tunnel.WithMode(tunnel.ModeNetstack))
	if err != nil {
		log.Fatal(err)
	}
	return server, client
}

// Serve HTTP on the tunnel address: only peers can reach it.
func ExampleTunnel_Listen() {
	ctx := context.Background()
	server, client := twoTunnels(ctx)
	defer server.Close()
	defer client.Close()

	ln, err := server.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the tunnel")
	}))

	resp, err := client.HTTPClient().Get("http://10.0.0.1/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK hello from the tunnel
}

// Fetch through the tunnel with a standard *http.Client.
func ExampleTunnel_HTTPClient() {
	ctx := context.Background()
	server, client := twoTunnels(ctx)
	defer server.Close()
	defer client.Close()

	ln, _ := server.Listen("tcp", ":8080")
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "you are %s", r.RemoteAddr[:len("10.0.0.2")])
	}))

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://10.0.0.1:8080/", nil)
	resp, err := client.HTTPClient().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: you are 10.0.0.2
}

// Ping a peer's tunnel address from inside the tunnel.
func ExampleTunnel_Ping() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server, client := twoTunnels(ctx)
	defer server.Close()
	defer client.Close()

	rtt, err := client.Ping(ctx, netip.MustParseAddr("10.0.0.1"), 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("reply, rtt > 0:", rtt > 0)
	// Output: reply, rtt > 0: true
}

// Add a peer to a running tunnel; the other peers' sessions go on.
func ExampleTunnel_SetPeer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server, client := twoTunnels(ctx)
	defer server.Close()
	defer client.Close()

	phone, _ := config.GeneratePrivateKey()
	err := server.SetPeer(ctx, config.Peer{
		PublicKey:  phone.PublicKey(),
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.3/32")},
	})
	if err != nil {
		log.Fatal(err)
	}
	st, _ := server.Status()
	fmt.Println("peers:", len(st.Peers))

	if err := server.RemovePeer(phone.PublicKey()); err != nil {
		log.Fatal(err)
	}
	st, _ = server.Status()
	fmt.Println("peers:", len(st.Peers))
	// Output:
	// peers: 2
	// peers: 1
}
