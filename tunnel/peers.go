package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wgu-project/wgu/tunnel/config"
	"golang.zx2c4.com/wireguard/device"
)

// ErrNoPeer is returned by RemovePeer for a key the tunnel does not have.
var ErrNoPeer = errors.New("no such peer")

// SetPeer adds p, or, when a peer with p's public key exists, replaces its
// preshared key, endpoint, keepalive and allowed IPs. Other peers are not
// touched: their sessions and traffic go on. (In TUN mode routes are not
// changed, as with `wg set`.)
func (t *Tunnel) SetPeer(ctx context.Context, p config.Peer) error {
	if err := t.alive(); err != nil {
		return err
	}
	if p.PublicKey.IsZero() {
		return fmt.Errorf("%w: peer has no public key", config.ErrInvalidConfig)
	}
	if p.PublicKey == t.config().Interface.PrivateKey.PublicKey() {
		return fmt.Errorf("%w: peer %s is the interface's own key", config.ErrInvalidConfig, p.PublicKey)
	}
	var b strings.Builder
	if err := config.WritePeerUAPI(ctx, t.opts.resolver, &b, p); err != nil {
		return err
	}
	// A peer added earlier with a preshared key keeps it unless told.
	if p.PresharedKey.IsZero() {
		b.WriteString("preshared_key=" + config.Key{}.Hex() + "\n")
	}
	if err := t.dev.IpcSet(b.String()); err != nil {
		return fmt.Errorf("setting peer %s: %w", p.PublicKey, err)
	}
	return nil
}

// RemovePeer removes the peer with public key pub; other peers are not
// touched.
func (t *Tunnel) RemovePeer(pub config.Key) error {
	if err := t.alive(); err != nil {
		return err
	}
	if t.dev.LookupPeer(device.NoisePublicKey(pub)) == nil {
		return fmt.Errorf("removing peer %s: %w", pub, ErrNoPeer)
	}
	if err := t.dev.IpcSet("public_key=" + pub.Hex() + "\nremove=true\n"); err != nil {
		return fmt.Errorf("removing peer %s: %w", pub, err)
	}
	return nil
}

// HTTPClient returns the tunnel's HTTP client: its connections go through
// the tunnel (netstack mode; in TUN mode the host's own client reaches the
// tunnel already). Every call returns the same client, so keep-alive
// connections are reused across calls; use it from any goroutine, as
// net/http allows, and read each response body to the end and close it so
// that its connection can be reused. Close drops the idle connections; after
// it, requests fail with ErrClosed.
func (t *Tunnel) HTTPClient() *http.Client {
	t.httpOnce.Do(func() {
		t.httpClient = &http.Client{
			Transport: &http.Transport{
				DialContext:         t.DialContext,
				ForceAttemptHTTP2:   true,
				MaxIdleConns:        16,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second,
			},
		}
	})
	return t.httpClient
}

// closeHTTP drops the HTTP client's idle connections, if it was made.
func (t *Tunnel) closeHTTP() {
	t.httpOnce.Do(func() {}) // no client is made after Close
	if t.httpClient != nil {
		t.httpClient.CloseIdleConnections()
	}
}

// alive returns ErrClosed once the tunnel has stopped.
func (t *Tunnel) alive() error {
	select {
	case <-t.done:
		return ErrClosed
	default:
		return nil
	}
}
