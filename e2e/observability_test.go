package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// metricsAddr is where the hub serves metrics, on loopback inside its
// namespace.
const metricsAddr = "127.0.0.1:9586"

// scrape fetches a path of the hub's metrics server from inside its
// namespace; it returns the body and whether the status was 200.
func scrape(ctx context.Context, ns *Netns, path string) (string, bool) {
	out, _, err := ns.Run(ctx, "curl", "-s", "-f", "--max-time", "5", "http://"+metricsAddr+path)
	return out, err == nil
}

// metricValue finds one sample of name whose labels contain all of labels.
func metricValue(body, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				match = false
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		return v, err == nil
	}
	return 0, false
}

func TestMetricsMatchShowDump(t *testing.T) {
	s := newSeedLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	mustWgu(ctx, t, s.hub, "up", "--metrics", metricsAddr, "-c", s.hubConf)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		wgu(ctx, t, s.hub, "down", s.hubIf)
	})
	if _, ok := scrape(ctx, s.hub, "/healthz"); ok {
		t.Error("/healthz is healthy before any handshake")
	}
	wguUp(ctx, t, s.homelab, s.homeConf)
	if err := s.homelab.Ping(ctx, hubWG); err != nil {
		t.Fatal(err)
	}
	if body, ok := scrape(ctx, s.hub, "/healthz"); !ok {
		t.Errorf("/healthz after a handshake: %q", body)
	}

	// Counters move with keepalives: look for a quiet moment.
	var body, dump string
	var mismatch error
	for attempt := 0; attempt < 5; attempt++ {
		dump = mustWgu(ctx, t, s.hub, "show", s.hubIf, "dump")
		body, _ = scrape(ctx, s.hub, "/metrics")
		if mismatch = compareMetrics(body, dump, s.hubIf); mismatch == nil {
			break
		}
	}
	if mismatch != nil {
		t.Errorf("%v\ndump:\n%s\nmetrics:\n%s", mismatch, dump, body)
	}
	if _, ok := metricValue(body, "wgu_interface_info", `interface="`+s.hubIf+`"`, `mode="tun"`); !ok {
		t.Errorf("no wgu_interface_info for %s in mode tun:\n%s", s.hubIf, body)
	}
	if _, ok := metricValue(body, "wgu_peer_endpoint_info", `endpoint="`+routerWAN.Addr().String()+`:`); !ok {
		t.Errorf("no endpoint series for the home lab behind the router:\n%s", body)
	}
	if age, ok := metricValue(body, "wgu_peer_last_handshake_age_seconds"); !ok || age < 0 || age > 180 {
		t.Errorf("handshake age %v (found %v)", age, ok)
	}
}

// compareMetrics checks the per-peer series against `wgu show dump`.
func compareMetrics(body, dump, ifName string) error {
	lines := strings.Split(strings.TrimSpace(dump), "\n")
	for _, line := range lines[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			return fmt.Errorf("dump line %q", line)
		}
		pub := `public_key="` + f[0] + `"`
		for name, want := range map[string]string{
			"wgu_peer_receive_bytes_total":              f[5],
			"wgu_peer_transmit_bytes_total":             f[6],
			"wgu_peer_last_handshake_timestamp_seconds": f[4],
		} {
			got, ok := metricValue(body, name, `interface="`+ifName+`"`, pub)
			w, _ := strconv.ParseFloat(want, 64)
			if !ok || got != w {
				return fmt.Errorf("%s{%s} = %v (found %v), dump says %s", name, pub, got, ok, want)
			}
		}
	}
	return nil
}

func TestShowJSON(t *testing.T) {
	s := newSeedLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s.up(ctx, t)
	out := mustWgu(ctx, t, s.hub, "show", "--json", s.hubIf)
	var v struct {
		Interfaces []struct {
			Name, Mode, PublicKey string
			ListenPort            int `json:"listen_port"`
			Peers                 []struct {
				PublicKey       string   `json:"public_key"`
				AllowedIPs      []string `json:"allowed_ips"`
				LatestHandshake int64    `json:"latest_handshake"`
				Endpoint        string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(v.Interfaces) != 1 || v.Interfaces[0].Name != s.hubIf || v.Interfaces[0].Mode != "tun" ||
		v.Interfaces[0].ListenPort != hubPort || len(v.Interfaces[0].Peers) != 1 {
		t.Fatalf("show --json:\n%s", out)
	}
	p := v.Interfaces[0].Peers[0]
	if p.PublicKey != s.homeKey.Public || p.LatestHandshake == 0 || len(p.AllowedIPs) != 1 || p.AllowedIPs[0] != homelabWG.String()+"/32" {
		t.Errorf("peer: %+v", p)
	}
	if regexp.MustCompile(`"(private_key|preshared_key)"`).MatchString(out) || strings.Contains(out, s.hubKey.Private) {
		t.Errorf("show --json leaks a key:\n%s", out)
	}
}

// TestSystemdNotify runs `wgu up -f` as a Type=notify unit would: READY=1
// must arrive only once the UAPI socket exists, STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	s := newSeedLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sockPath := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p, err := s.hub.StartEnv([]string{"NOTIFY_SOCKET=" + sockPath}, wguBinary(t), "up", "-f", "-c", s.hubConf)
	if err != nil {
		t.Fatal(err)
	}
	read := func() string {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v\n%s", err, p.Stderr())
		}
		return string(buf[:n])
	}
	msg := read()
	if !strings.Contains(msg, "READY=1") {
		t.Fatalf("first notification %q", msg)
	}
	if _, err := os.Stat(socketPath(s.hubIf)); err != nil {
		t.Errorf("READY=1 before the UAPI socket exists: %v", err)
	}
	p.Signal(syscall.SIGTERM)
	if msg := read(); !strings.Contains(msg, "STOPPING=1") {
		t.Errorf("notification on SIGTERM %q", msg)
	}
	if err := p.Wait(ctx); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, p.Stderr())
	}
}
