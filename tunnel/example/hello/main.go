// Command hello is the README's embedding example: it brings up a netstack
// tunnel from a wg-quick file, serves HTTP on the tunnel address and fetches
// from a peer through the tunnel. It needs no privileges and builds for every
// system wireguard-go runs on (CI cross-compiles it).
//
//	go run ./tunnel/example/hello wg0.conf
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: hello wg0.conf")
	}
	cfg, err := config.LoadConfig(os.Args[1]) // or build a config.Config in code
	if err != nil {
		log.Fatal(err)
	}
	t, err := tunnel.Up(context.Background(), cfg, tunnel.WithMode(tunnel.ModeNetstack))
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close() // stops every goroutine of the tunnel

	// Serve HTTP on the tunnel address, reachable only by peers.
	ln, err := t.Listen("tcp", ":8080")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello, peer", r.RemoteAddr)
	}))

	// And fetch from a peer through the tunnel, with the tunnel's one client.
	resp, err := t.HTTPClient().Get("http://10.0.0.1:8080/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(os.Stdout, resp.Body)
}
