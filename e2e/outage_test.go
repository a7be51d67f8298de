package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// progressPoint is one "progress UNIXNANO BYTES" line of a receiving stream helper.
type progressPoint struct {
	at    time.Time
	bytes int64
}

func parseProgress(out string) []progressPoint {
	var pts []progressPoint
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "progress" {
			continue
		}
		ns, err1 := strconv.ParseInt(f[1], 10, 64)
		n, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 == nil && err2 == nil {
			pts = append(pts, progressPoint{time.Unix(0, ns), n})
		}
	}
	return pts
}

// rateBetween is the receive rate (bytes/s) over [from, to] from progress points.
func rateBetween(pts []progressPoint, from, to time.Time) float64 {
	var a, b *progressPoint
	for i := range pts {
		if a == nil && !pts[i].at.Before(from) {
			a = &pts[i]
		}
		if !pts[i].at.After(to) {
			b = &pts[i]
		}
	}
	if a == nil || b == nil || !b.at.After(a.at) {
		return 0
	}
	return float64(b.bytes-a.bytes) / b.at.Sub(a.at).Seconds()
}

// fullSpeedAt is the first time at or after since when the rate over a window reaches want (bytes/s).
func fullSpeedAt(pts []progressPoint, since time.Time, window time.Duration, want float64) (time.Time, bool) {
	for _, p := range pts {
		if p.at.Before(since) {
			continue
		}
		if rateBetween(pts, p.at, p.at.Add(window)) >= want {
			return p.at, true
		}
	}
	return time.Time{}, false
}

// hubRestart is one way to take the hub away and bring it back.
type hubRestart struct {
	name string
	down func(ctx context.Context, t testing.TB, r *lossLab)
}

var hubRestarts = []hubRestart{
	{"down-up", func(ctx context.Context, t testing.TB, r *lossLab) {
		mustWgu(ctx, t, r.hub, "down", "-c", r.hubConf)
	}},
	{"kill9-up", func(ctx context.Context, t testing.TB, r *lossLab) {
		out, _, err := r.hub.Run(ctx, "pgrep", "-f", "--", r.hubConf)
		if err != nil {
			t.Fatalf("no hub daemon: %v", err)
		}
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		// What a supervisor does after a crash: clean up what the dead daemon left, then start again.
		wgu(ctx, t, r.hub, "down", "-c", r.hubConf)
	}},
}

// measureHubRestart streams from the rootless spoke (up through the forward, or down) while the hub restarts
// after outage, and returns how long after the new handshake the stream got back to half its speed before.
func (r *lossLab) measureHubRestart(t testing.TB, ctx context.Context, how hubRestart, p lossPath, up bool, outage, within time.Duration) (time.Duration, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port, dial, serverRole, clientRole := llUpPort, p.upDial, "listen-recv", "dial-send"
	if !up {
		port, dial, serverRole, clientRole = llDownPrt, p.downDial, "listen-send", "dial-recv"
	}
	common := []string{helperEnv + "=stream", helperBytesEnv + "=" + strconv.FormatInt(1<<40, 10), helperCCEnv + "=cubic", helperProgressEnv + "=1"}
	server, err := r.hub.StartEnv(append([]string{helperRoleEnv + "=" + serverRole,
		helperAddrEnv + "=" + fmt.Sprintf("%s:%d", hubWG, port)}, common...), exe)
	if err != nil {
		t.Fatal(err)
	}
	defer server.kill()
	if err := server.WaitOutput(ctx, "listening"); err != nil {
		t.Fatal(err)
	}
	env := append([]string{helperRoleEnv + "=" + clientRole, helperAddrEnv + "=" + dial}, common...)
	if p.socks != "" {
		env = append(env, helperSOCKSEnv+"="+p.socks)
	}
	client, err := p.spoke(r).StartEnv(env, exe)
	if err != nil {
		t.Fatal(err)
	}
	defer client.kill()
	receiver := server
	if !up {
		receiver = client
	}
	time.Sleep(3 * time.Second)
	before := rateBetween(parseProgress(receiver.Stdout()), time.Now().Add(-2*time.Second), time.Now())
	if before == 0 {
		return 0, fmt.Errorf("no progress before the outage: %s%s", receiver.Stdout(), receiver.Stderr())
	}
	how.down(ctx, t, r)
	time.Sleep(outage)
	mustWgu(ctx, t, r.hub, "up", "-c", r.hubConf)
	// The new handshake: the hub's fresh device learns the spoke's endpoint from it.
	var handshake time.Time
	if err := waitFor(ctx, "the new handshake", func() bool {
		out, _, err := r.hub.Run(ctx, "wg", "show", r.hubIf, "latest-handshakes")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); err == nil && len(f) == 2 && f[0] == r.rlKey && f[1] != "0" {
				handshake = time.Now()
				return true
			}
		}
		return false
	}); err != nil {
		return 0, err
	}
	// Give the stream time to show its speed again (or not).
	deadline := handshake.Add(within)
	for time.Now().Before(deadline) {
		if _, ok := fullSpeedAt(parseProgress(receiver.Stdout()), handshake, time.Second, before/2); ok {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	at, ok := fullSpeedAt(parseProgress(receiver.Stdout()), handshake, time.Second, before/2)
	if !ok {
		return 0, fmt.Errorf("not back to half of %.1f MB/s within %v of the handshake", before/1e6, within)
	}
	t.Logf("%s, %s %s: %.1f MB/s before; back to half of it %v after the handshake", how.name, p.name,
		map[bool]string{true: "up", false: "down"}[up], before/1e6, at.Sub(handshake).Round(10*time.Millisecond))
	return at.Sub(handshake), nil
}

// maxRecovery is issue 18's bound on how long after the new handshake a stream may take to get back to speed,
// with the 100 ms polling of the handshake added.
const maxRecovery = 2*time.Second + 200*time.Millisecond

// maxHubSenderRecovery bounds a download's recovery, where the hub's kernel TCP is the sender: its retransmission
// timer (backing off up to 120 s) decides when the first resend crosses the new session, not wgu. The resend it
// made before the handshake usually waits in the hub's wireguard-go and crosses at once (tens of ms), but not
// always (one run in four took 4 s on a loaded machine).
const maxHubSenderRecovery = 15 * time.Second

// TestRootlessStreamSurvivesHubRestart restarts the hub (wgu down + up, then kill -9 + up) under a stream through
// the rootless spoke's forward, each way, and requires it back at speed (half its earlier rate over a second)
// within 2 s of the new handshake when the netstack sends (upload). That needs netstackx's lossRecovery (RACK
// off: gVisor's RACK resends about two segments per RTO after losing a whole window) and maxRTO (a resend within
// a second of the handshake, not after a backoff of many seconds). A download, the hub's kernel sending, is held
// to maxHubSenderRecovery.
func TestRootlessStreamSurvivesHubRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*testTimeout)
	defer cancel()
	r := newLossLab(t, ctx)
	forward := lossPaths[1]
	for _, how := range hubRestarts {
		for _, up := range []bool{true, false} {
			dir, bound := "upload", maxRecovery
			if !up {
				dir, bound = "download", maxHubSenderRecovery
			}
			d, err := r.measureHubRestart(t, ctx, how, forward, up, 3*time.Second, bound)
			if err != nil {
				t.Errorf("%s, %s: %v\nrootless spoke: %s", how.name, dir, err, tail(r.rlProc.Stderr(), 2000))
				continue
			}
			if d > bound {
				t.Errorf("%s, %s: the stream took %v after the new handshake to get back to speed (at most %v)", how.name, dir, d, bound)
			}
		}
	}
}
