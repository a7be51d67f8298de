package tunnel_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
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

// Read what `wg show` would print: here, that the client's handshake with the
// server happened once traffic flowed.
func ExampleTunnel_Status() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server, client := twoTunnels(ctx)
	defer server.Close()
	defer client.Close()

	if _, err := client.Ping(ctx, netip.MustParseAddr("10.0.0.1"), 1); err != nil {
		log.Fatal(err)
	}
	st, err := client.Status()
	if err != nil {
		log.Fatal(err)
	}
	p := st.Peers[0]
	fmt.Println("endpoint:", p.Endpoint.Host)
	fmt.Println("handshake done:", !p.LastHandshake.IsZero())
	fmt.Println("bytes sent > 0:", p.TxBytes > 0)
	// Output:
	// endpoint: 127.0.0.1
	// handshake done: true
	// bytes sent > 0: true
}

// Forward a local port to a service behind the tunnel, letting the system
// choose the port, and read back which one it chose.
func ExampleTunnel_Services() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server, client := twoTunnels(ctx)
	defer server.Close()
	defer client.Close()

	ln, err := server.Listen("tcp", ":7000")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello through the forward\n")
			c.Close()
		}
	}()

	// A [TCPClientTunnel] section, as --forward 127.0.0.1:0=10.0.0.1:7000 writes it.
	fwd, err := config.ForwardSection("127.0.0.1:0=10.0.0.1:7000")
	if err != nil {
		log.Fatal(err)
	}
	cfg := *client.Config()
	cfg.Services = append(cfg.Services, fwd)
	client.Close()
	client, err = tunnel.Up(ctx, &cfg, tunnel.WithMode(tunnel.ModeNetstack))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	svc := client.Services()[0]
	c, err := net.Dial("tcp", svc.Addr.String()) // an ordinary host socket
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(svc.Kind, ": ", line)
	// Output: forward-tcp: hello through the forward
}
