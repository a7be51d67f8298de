package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wgu-project/wgu/tunnel"
)

// freshHandshake is how recent a handshake must be for /healthz: WireGuard
// renews sessions every 2 minutes while traffic flows and drops them after
// 3 (REJECT_AFTER_TIME), so a live peer has one at most 180 s old.
const freshHandshake = 180 * time.Second

// tunnelCollector reads the tunnel's state at scrape time, so the numbers
// are exactly what `wgu show dump` would print at that moment.
type tunnelCollector struct {
	t *tunnel.Tunnel

	rx, tx, handshake, handshakeAge, endpoint, info *prometheus.Desc
}

func newTunnelCollector(t *tunnel.Tunnel) *tunnelCollector {
	peer := []string{"interface", "public_key"}
	return &tunnelCollector{
		t:            t,
		rx:           prometheus.NewDesc("wgu_peer_receive_bytes_total", "Bytes received from the peer (UDP payload, handshakes included).", peer, nil),
		tx:           prometheus.NewDesc("wgu_peer_transmit_bytes_total", "Bytes sent to the peer (UDP payload, handshakes included).", peer, nil),
		handshake:    prometheus.NewDesc("wgu_peer_last_handshake_timestamp_seconds", "Unix time of the latest handshake; 0 if none.", peer, nil),
		handshakeAge: prometheus.NewDesc("wgu_peer_last_handshake_age_seconds", "Seconds since the latest handshake; absent if none.", peer, nil),
		endpoint:     prometheus.NewDesc("wgu_peer_endpoint_info", "The peer's current endpoint, as a label; value 1.", append(peer, "endpoint"), nil),
		info:         prometheus.NewDesc("wgu_interface_info", "The interface and its backend (mode tun or netstack); value 1.", []string{"interface", "mode", "public_key", "listen_port"}, nil),
	}
}

func (c *tunnelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rx, c.tx, c.handshake, c.handshakeAge, c.endpoint, c.info} {
		ch <- d
	}
}

func (c *tunnelCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.t.Status()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.info, err)
		return
	}
	name := c.t.Name()
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, name, string(c.t.Mode()),
		keyOrNone(publicKey(st)), fmt.Sprint(st.ListenPort))
	now := time.Now()
	for _, p := range st.Peers {
		pub := p.PublicKey.String()
		ch <- prometheus.MustNewConstMetric(c.rx, prometheus.CounterValue, float64(p.RxBytes), name, pub)
		ch <- prometheus.MustNewConstMetric(c.tx, prometheus.CounterValue, float64(p.TxBytes), name, pub)
		hs := 0.0
		if !p.LastHandshake.IsZero() {
			hs = float64(p.LastHandshake.Unix())
			ch <- prometheus.MustNewConstMetric(c.handshakeAge, prometheus.GaugeValue, now.Sub(p.LastHandshake).Seconds(), name, pub)
		}
		ch <- prometheus.MustNewConstMetric(c.handshake, prometheus.GaugeValue, hs, name, pub)
		if !p.Endpoint.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.endpoint, prometheus.GaugeValue, 1, name, pub, p.Endpoint.String())
		}
	}
}

// healthy reports whether some peer has a fresh handshake.
func healthy(t *tunnel.Tunnel, now time.Time) error {
	st, err := t.Status()
	if err != nil {
		return err
	}
	_, err = freshestHandshake(st, now)
	return err
}

// serveMetrics serves /metrics and /healthz on addr until ctx ends. A bare
// port means loopback: metrics are published beyond the host only when an
// address says so.
func serveMetrics(ctx context.Context, addr string, t *tunnel.Tunnel, log *slog.Logger) (func(), error) {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newTunnelCollector(t))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := healthy(t, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
