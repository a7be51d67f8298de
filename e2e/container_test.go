package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The key a container reads, as the README's container examples mount it:
// a Kubernetes Secret volume or a compose secret at /run/secrets.
const containerKeyPath = "/run/secrets/wg-key"

// TestContainers runs wgu's image (make image) in Podman with runc. The
// subtests share one private Podman store and one image build.
func TestContainers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	p := newPodman(t, ctx)
	t.Run("Image", func(t *testing.T) { testContainerImage(t, ctx, p) })
	t.Run("SpokeReachesTUNHub", func(t *testing.T) { testContainerSpoke(t, ctx, p) })
	t.Run("HubRoutesBetweenSpokes", func(t *testing.T) { testContainerHub(t, ctx, p) })
	t.Run("SeedHubSkipsHostHooks", func(t *testing.T) { testContainerSeedHub(t, ctx, p) })
	t.Run("KubernetesExampleLayout", func(t *testing.T) { testContainerKubernetesLayout(t, ctx, p) })
}

// testContainerImage checks what the Containerfile promises: one static
// binary FROM scratch, nobody, `wgu up -f wg0`.
func testContainerImage(t *testing.T, ctx context.Context, p *podman) {
	out := p.must(ctx, t, "image", "inspect", "--format",
		`{"user":{{json .Config.User}},"entrypoint":{{json .Config.Entrypoint}},"cmd":{{json .Config.Cmd}},"size":{{.Size}},"layers":{{len .RootFS.Layers}}}`, p.image)
	var img struct {
		User       string
		Entrypoint []string
		Cmd        []string
		Size       int64
		Layers     int
	}
	if err := json.Unmarshal([]byte(out), &img); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if img.User != "65534:65534" || strings.Join(img.Entrypoint, " ") != "wgu" || strings.Join(img.Cmd, " ") != strings.Join(containerCommand, " ") {
		t.Errorf("image config: user %q, entrypoint %q, cmd %q; want 65534:65534, wgu, %q", img.User, img.Entrypoint, img.Cmd, containerCommand)
	}
	if img.Layers != 1 {
		t.Errorf("image has %d layers, want 1 (FROM scratch, one COPY)", img.Layers)
	}
	t.Logf("image size: %.1f MB (%d bytes)", float64(img.Size)/1e6, img.Size)
	// Nothing but the binary: no shell to run hooks with.
	ctr := "wgu-e2e-noshell"
	if _, _, err := p.run(ctx, "run", "--rm", "--pull", "never", "--name", ctr, "--network", "none",
		"--entrypoint", "/bin/sh", p.image, "-c", "true"); err == nil {
		t.Errorf("the image has a /bin/sh")
	}
	start := time.Now()
	vout := p.must(ctx, t, append(append([]string{"run", "--rm", "--pull", "never", "--network", "none"}, containerSecurityArgs...), p.image, "--version")...)
	t.Logf("podman run --rm … wgu --version took %v (the runtime's own start and stop)", time.Since(start).Round(10*time.Millisecond))
	if !strings.HasPrefix(vout, "wgu version ") {
		t.Errorf("wgu --version in the image: %q", vout)
	}
}

// writeContainerKey writes a private key as the container user's secret
// file (0400), the way a Secret volume with defaultMode 0400 and fsGroup,
// or a compose secret, presents it.
func writeContainerKey(t *testing.T, dir, name, key string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, containerUID, containerUID); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitHandshake waits until the TUN interface ifname in ns has a handshake
// with some peer and returns when it saw it.
func waitHandshake(ctx context.Context, t *testing.T, ns *Netns, ifname string) time.Time {
	t.Helper()
	if err := waitFor(ctx, "a handshake on "+ifname, func() bool {
		out, _, err := ns.Run(ctx, "wg", "show", ifname, "latest-handshakes")
		if err != nil {
			return false
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[1] != "0" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// testContainerSpoke: a rootless spoke in a container reaches a wgu hub on
// a kernel TUN through a port forward and SOCKS5 (checksummed streams); its
// key comes from a Podman secret; `podman exec … wgu show` and `wgu health`
// work; `podman stop` ends it with exit code 0.
func testContainerSpoke(t *testing.T, ctx context.Context, p *podman) {
	lab := NewLab(t)
	hub, spoke := lab.Netns("hub"), lab.Netns("spoke")
	hubIf := lab.IfName("hub")
	lab.Link(hub, spoke, rlHubLink, rlSpokeLink)
	hubKey, spokeKey := newKeyPair(t), newKeyPair(t)
	dir := t.TempDir()
	wguUp(ctx, t, hub, writeConfig(t, t.TempDir(), hubIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d

[Peer]
PublicKey = %s
AllowedIPs = %s/32
`, hubKey.Private, hubWG, hubPort, spokeKey.Public, rlSpokeWG)))

	// The key is a Podman secret (podman secret create), mounted for the
	// container's uid with mode 0400.
	const secretTarget = "/run/wgu/wg-key"
	keyFile := writeContainerKey(t, dir, "spoke.key", spokeKey.Private)
	p.must(ctx, t, "secret", "create", "wg-key-spoke", keyFile)
	conf := writeConfig(t, dir, "spoke", fmt.Sprintf(`[Interface]
PrivateKeyFile = %s
Address = %s/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 10.0.0.0/24
PersistentKeepalive = 25

[TCPClientTunnel]
BindAddress = 127.0.0.1:5001
Target = 10.0.0.1:5001

[Socks5]
BindAddress = 127.0.0.1:1080
`, secretTarget, rlSpokeWG, hubKey.Public, rlHubLink.Addr(), hubPort))

	start := time.Now()
	// Podman 4.3 cannot add a secret file under the read-only /run/secrets
	// bind it makes for the default target, so the secret goes to /run/wgu.
	c := p.start(ctx, t, "wgu-e2e-spoke", spoke, conf, "--secret",
		fmt.Sprintf("wg-key-spoke,type=mount,uid=%d,gid=%d,mode=0400,target=%s", containerUID, containerUID, secretTarget))
	handshake := waitHandshake(ctx, t, hub, hubIf)
	t.Logf("containerised spoke: podman run to first handshake %v (50 ms polling); in wgu's log, first line to handshake %s",
		handshake.Sub(start).Round(10*time.Millisecond), logSpan(c.logs(ctx), "Received handshake response"))

	health := c.waitHealthy(ctx, t, "--handshake")
	if !strings.HasPrefix(health, "wg0: ok (netstack mode, 1 peers), latest handshake") {
		t.Errorf("wgu health --handshake in the container: %q", health)
	}
	logs := c.logs(ctx)
	if strings.Contains(logs, "world accessible") {
		t.Errorf("a 0400 secret was reported as world accessible:\n%s", logs)
	}
	if strings.Contains(logs, spokeKey.Private) {
		t.Errorf("the private key appears in the container's log")
	}
	if err := hub.Ping(ctx, rlSpokeWG); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	// `podman exec … wgu show`: wg's output, plus the mode and services.
	show, err := c.exec(ctx, "wgu", "show")
	if err != nil {
		t.Fatalf("podman exec wgu show: %v", err)
	}
	for _, want := range []string{"interface: wg0", "peer: " + hubKey.Public, "latest handshake:", "wgu: netstack mode", "127.0.0.1:5001"} {
		if !strings.Contains(show, want) {
			t.Errorf("podman exec wgu show lacks %q:\n%s", want, show)
		}
	}

	const size = 16 << 20
	// [TCPClientTunnel]: the spoke namespace's 127.0.0.1:5001 -> the hub's 10.0.0.1:5001.
	if err := startTransferVia(t, ctx, spoke, hub, "127.0.0.1:5001", netip.AddrPortFrom(hubWG, 5001).String(), size, 0).check(ctx); err != nil {
		t.Fatalf("spoke -> hub through the container's forward: %v\n%s", err, c.logs(ctx))
	}
	// [Socks5]: CONNECT 10.0.0.1:5002 through 127.0.0.1:1080.
	if err := startTransferSOCKS5(t, ctx, spoke, hub, "127.0.0.1:1080", netip.AddrPortFrom(hubWG, 5002).String(), size).check(ctx); err != nil {
		t.Fatalf("spoke -> hub through the container's SOCKS5 proxy: %v\n%s", err, c.logs(ctx))
	}
	if rss, err := c.rss(ctx); err != nil {
		t.Errorf("RSS: %v", err)
	} else {
		ref, _ := procRSS(daemonPID(ctx, t, hub, hubIf))
		t.Logf("containerised spoke RSS after 2 x %d MiB: %s (same run, the TUN hub's wgu daemon: %s)", size>>20, rss, ref)
	}

	took, code := c.stop(ctx, t)
	t.Logf("podman stop took %v", took.Round(10*time.Millisecond))
	if code != 0 {
		t.Errorf("exit code after podman stop = %d, want 0\n%s", code, c.logs(ctx))
	}
	if took > 5*time.Second {
		t.Errorf("podman stop took %v: SIGTERM did not end wgu (podman waits 10 s, then kills)", took)
	}
	if logs := c.logs(ctx); !strings.Contains(logs, "signal received, taking the interface down") {
		t.Errorf("no clean shutdown in the log:\n%s", logs)
	}
}

// startTransferSOCKS5 is startTransferVia where the source reaches listen
// through the SOCKS5 proxy at socks.
func startTransferSOCKS5(t *testing.T, ctx context.Context, src, dst *Netns, socks, listen string, size int64) *transfer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sink, err := dst.StartEnv([]string{helperEnv + "=sink", helperAddrEnv + "=" + listen}, exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.WaitOutput(ctx, "listening"); err != nil {
		t.Fatal(err)
	}
	source, err := src.StartEnv([]string{helperEnv + "=source", helperAddrEnv + "=" + listen, helperSOCKS5Env + "=" + socks,
		helperBytesEnv + "=" + fmt.Sprint(size)}, exe)
	if err != nil {
		t.Fatal(err)
	}
	return &transfer{sink: sink, source: source}
}

// containerHubConfig is a hub config whose key is the container's secret
// file, with one [Peer] per public key and address pair.
func containerHubConfig(peers ...string) string {
	text := fmt.Sprintf("[Interface]\nPrivateKeyFile = %s\nAddress = %s/24\nListenPort = %d\n", containerKeyPath, hubWG, hubPort)
	for i := 0; i+1 < len(peers); i += 2 {
		text += fmt.Sprintf("\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\n", peers[i], peers[i+1])
	}
	return text
}

// testContainerHub: a rootless hub in a container routes between a spoke on
// a kernel TUN and a containerised spoke. The hub's key is a secret file
// bind-mounted at /run/secrets/wg-key, as compose does.
func testContainerHub(t *testing.T, ctx context.Context, p *podman) {
	lab := NewLab(t)
	hub, a, c := lab.Netns("hub"), lab.Netns("a"), lab.Netns("c")
	aIf := lab.IfName("a")
	lab.Link(hub, a, rhHubA, rhSpokeA)
	lab.Link(hub, c, rhHubC, rhSpokeC)
	hubKey, aKey, cKey := newKeyPair(t), newKeyPair(t), newKeyPair(t)
	dir := t.TempDir()

	hubConf := writeConfig(t, dir, "hub", containerHubConfig(aKey.Public, rhWGA.String(), cKey.Public, rhWGC.String()))
	hubKeyFile := writeContainerKey(t, dir, "hub.key", hubKey.Private)
	// Readable by others: it works, with wg-quick's warning.
	if err := os.Chmod(hubKeyFile, 0o444); err != nil {
		t.Fatal(err)
	}
	hubC := p.start(ctx, t, "wgu-e2e-hub", hub, hubConf, "--volume", hubKeyFile+":"+containerKeyPath+":ro")
	hubC.waitHealthy(ctx, t)
	if logs := hubC.logs(ctx); !strings.Contains(logs, "Warning: `"+containerKeyPath+"' is world accessible") {
		t.Errorf("a 0444 key file was not reported as world accessible:\n%s", logs)
	}

	spoke := func(k keyPair, addr netip.Addr, hubAddr netip.Prefix) string {
		return fmt.Sprintf("[Interface]\n%s\nAddress = %s/24\n\n[Peer]\nPublicKey = %s\nEndpoint = %s:%d\nAllowedIPs = 10.0.0.0/24\nPersistentKeepalive = 25\n",
			"PrivateKey = "+k.Private, addr, hubKey.Public, hubAddr.Addr(), hubPort)
	}
	wguUp(ctx, t, a, writeConfig(t, t.TempDir(), aIf, spoke(aKey, rhWGA, rhHubA)))
	cConf := writeConfig(t, dir, "c", strings.Replace(spoke(cKey, rhWGC, rhHubC), "PrivateKey = "+cKey.Private, "PrivateKeyFile = "+containerKeyPath, 1)+`
[TCPClientTunnel]
BindAddress = 127.0.0.1:6001
Target = 10.0.0.2:6001
`)
	cKeyFile := writeContainerKey(t, dir, "c.key", cKey.Private)
	cC := p.start(ctx, t, "wgu-e2e-spoke-c", c, cConf, "--volume", cKeyFile+":"+containerKeyPath+":ro")
	cC.waitHealthy(ctx, t, "--handshake")

	if err := a.Ping(ctx, hubWG); err != nil {
		t.Fatalf("TUN spoke -> container hub: %v\n%s", err, hubC.logs(ctx))
	}
	// Through the hub to the containerised spoke's netstack, which answers.
	if err := a.Ping(ctx, rhWGC); err != nil {
		t.Fatalf("TUN spoke -> container hub -> container spoke: %v\nhub:\n%s\nspoke:\n%s", err, hubC.logs(ctx), cC.logs(ctx))
	}
	// And a checksummed stream the other way: c's forward to a's address.
	const size = 16 << 20
	if err := startTransferVia(t, ctx, c, a, "127.0.0.1:6001", netip.AddrPortFrom(rhWGA, 6001).String(), size, 0).check(ctx); err != nil {
		t.Fatalf("container spoke -> container hub -> TUN spoke: %v\nhub:\n%s", err, hubC.logs(ctx))
	}
	show, err := hubC.exec(ctx, "wgu", "show", "wg0")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(show, "latest handshake:"); n != 2 {
		t.Errorf("the hub shows %d peers with a handshake, want 2:\n%s", n, show)
	}
	for _, ctr := range []*container{cC, hubC} {
		if _, code := ctr.stop(ctx, t); code != 0 {
			t.Errorf("%s: exit code %d after podman stop\n%s", ctr.name, code, ctr.logs(ctx))
		}
	}
}

// testContainerSeedHub: the seed's hub config (testdata/seed-hub.conf),
// unchanged but for its keys, comes up in the scratch image and serves a
// spoke on a kernel TUN. Its PostUp/PostDown only configure the host's
// network, and there is neither a shell nor the privilege to run them:
// they are skipped with a message, decided before running (issue 11).
func testContainerSeedHub(t *testing.T, ctx context.Context, p *podman) {
	lab := NewLab(t)
	hub, spoke := lab.Netns("hub"), lab.Netns("homelab")
	spokeIf := lab.IfName("hl")
	lab.Link(hub, spoke, rlHubLink, rlSpokeLink)
	hubKey, spokeKey := newKeyPair(t), newKeyPair(t)
	seed, err := os.ReadFile("testdata/seed-hub.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := writeConfig(t, dir, "seed", strings.NewReplacer("HUB_PRIVATE_KEY", hubKey.Private,
		"SPOKE_PUBLIC_KEY", spokeKey.Public).Replace(string(seed)))
	c := p.start(ctx, t, "wgu-e2e-seed", hub, conf)
	c.waitHealthy(ctx, t)
	wguUp(ctx, t, spoke, writeConfig(t, t.TempDir(), spokeIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 10.0.0.0/24
PersistentKeepalive = 25
`, spokeKey.Private, homelabWG, hubKey.Public, rlHubLink.Addr(), hubPort)))
	if err := spoke.Ping(ctx, hubWG); err != nil {
		t.Fatalf("home lab -> seed hub in a container: %v\n%s", err, c.logs(ctx))
	}
	logs := c.logs(ctx)
	if n := strings.Count(logs, "[-] PostUp hook skipped (netstack mode"); n != 2 {
		t.Errorf("%d PostUp hooks reported skipped, want 2:\n%s", n, logs)
	}
	if _, code := c.stop(ctx, t); code != 0 {
		t.Errorf("exit code %d after podman stop:\n%s", code, c.logs(ctx))
	}
	logs = c.logs(ctx)
	if n := strings.Count(logs, "[-] PostDown hook skipped (netstack mode"); n != 2 {
		t.Errorf("%d PostDown hooks reported skipped, want 2:\n%s", n, logs)
	}
	if strings.Contains(logs, "[#] ") {
		t.Errorf("a hook was run (there is no shell in the image):\n%s", logs)
	}
}

// k8sVolume lays files out as the kubelet does for a ConfigMap or Secret
// volume: the files in a timestamped directory, ..data a symlink to it, and
// each name a symlink through ..data; owned by root and the fsGroup, with
// the volume's defaultMode.
func k8sVolume(t *testing.T, files map[string]string, fsGroup int, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wgu-k8svol-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil { // the kubelet's tmpfs
		t.Fatal(err)
	}
	const stamp = "..2026_11_30_04_00_00.000000001"
	if err := os.Mkdir(filepath.Join(dir, stamp), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, stamp, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 0, fsGroup); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(stamp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testContainerKubernetesLayout runs dist/kubernetes's sidecar as far as
// Podman can: its ConfigMap's config (placeholders filled with the lab's
// hub) and the key in volumes laid out as the kubelet does, its security
// settings and args, its probes as podman exec; the app's view is the pod's
// localhost: the forward and SOCKS5 reach the home-lab service.
func testContainerKubernetesLayout(t *testing.T, ctx context.Context, p *podman) {
	ex := loadKubernetesExample(t)
	security, err := ex.podmanArgs(ex.sidecar)
	if err != nil {
		t.Fatal(err)
	}
	lab := NewLab(t)
	homelab, pod := lab.Netns("homelab"), lab.Netns("pod")
	labIf := lab.IfName("hl")
	lab.Link(homelab, pod, rlHubLink, rlSpokeLink)
	hubKey, podKey := newKeyPair(t), newKeyPair(t)
	// The home lab's wgu (kernel TUN) is the hub and serves 10.0.0.2 itself.
	wguUp(ctx, t, homelab, writeConfig(t, t.TempDir(), labIf, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/24
ListenPort = %d

[Peer]
PublicKey = %s
AllowedIPs = 10.0.0.7/32
`, hubKey.Private, homelabWG, hubPort, podKey.Public)))
	conf := strings.NewReplacer("<hub.pub>", hubKey.Public, "vps.example.com", rlHubLink.Addr().String()).Replace(ex.config)
	group := *ex.pod.SecurityContext.FSGroup
	var cfgMode, keyMode os.FileMode
	for _, v := range ex.pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.DefaultMode != nil {
			cfgMode = os.FileMode(*v.ConfigMap.DefaultMode)
		}
		if v.Secret != nil && v.Secret.DefaultMode != nil {
			keyMode = os.FileMode(*v.Secret.DefaultMode)
		}
	}
	cfgDir := k8sVolume(t, map[string]string{path.Base(containerConfPath): conf}, group, cfgMode)
	keyDir := k8sVolume(t, map[string]string{path.Base(containerKeyPath): podKey.Private + "\n"}, group, keyMode)

	args := []string{"run", "--detach", "--pull", "never", "--name", "wgu-e2e-k8s",
		"--network", "ns:/run/netns/" + pod.Name,
		"--volume", cfgDir + ":" + path.Dir(containerConfPath) + ":ro",
		"--volume", keyDir + ":" + path.Dir(containerKeyPath) + ":ro",
		"--group-add", fmt.Sprint(group)}
	args = append(args, security...)
	args = append(append(args, p.image), ex.sidecar.Args...)
	p.must(ctx, t, args...)
	c := &container{p: p, name: "wgu-e2e-k8s"}

	// The probes, as the kubelet would run them.
	for _, probe := range []*k8sProbe{ex.sidecar.StartupProbe, ex.sidecar.LivenessProbe, ex.sidecar.ReadinessProbe} {
		if err := waitFor(ctx, "probe "+strings.Join(probe.Exec.Command, " "), func() bool {
			_, err := c.exec(ctx, probe.Exec.Command...)
			status, _, serr := c.state(ctx)
			return err == nil || serr != nil || status != "running"
		}); err != nil {
			t.Fatal(err)
		}
		if status, code, _ := c.state(ctx); status != "running" {
			t.Fatalf("the sidecar exited (%d):\n%s", code, c.logs(ctx))
		}
	}
	if logs := c.logs(ctx); strings.Contains(logs, "world accessible") {
		t.Errorf("the Secret volume's key was reported world accessible:\n%s", logs)
	}
	// The app's two ways in: the forward and SOCKS5 on the pod's localhost.
	const size = 4 << 20
	if err := startTransferVia(t, ctx, pod, homelab, "127.0.0.1:8096", netip.AddrPortFrom(homelabWG, 8096).String(), size, 0).check(ctx); err != nil {
		t.Fatalf("app -> home lab through the sidecar's forward: %v\n%s", err, c.logs(ctx))
	}
	if err := startTransferSOCKS5(t, ctx, pod, homelab, "127.0.0.1:1080", netip.AddrPortFrom(homelabWG, 8097).String(), size).check(ctx); err != nil {
		t.Fatalf("app -> home lab through the sidecar's SOCKS5: %v\n%s", err, c.logs(ctx))
	}
	if _, code := c.stop(ctx, t); code != 0 {
		t.Errorf("exit code %d after podman stop:\n%s", code, c.logs(ctx))
	}
}

// logSpan is the time from the first slog line of logs to the first line
// containing marker, or "?" when either is missing.
func logSpan(logs, marker string) string {
	var first, at time.Time
	for _, line := range strings.Split(logs, "\n") {
		v, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, strings.Fields(v)[0])
		if err != nil {
			continue
		}
		if first.IsZero() {
			first = ts
		}
		if strings.Contains(line, marker) {
			at = ts
			break
		}
	}
	if first.IsZero() || at.IsZero() {
		return "?"
	}
	return at.Sub(first).Round(time.Millisecond).String()
}
