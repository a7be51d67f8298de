package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 13: wgu's image in a real container runtime. Every container runs
// as an arbitrary uid with no capabilities, no devices (no /dev/net/tun), a
// read-only root and no way to gain privileges, in a network namespace the
// lab made.

// containerUID is the uid containers run as: neither root nor the image's
// default (nobody), to show that any uid works.
const containerUID = 1000

// containerSecurityArgs are the `podman run` flags every test container
// gets; dist/kubernetes says the same in its securityContext
// (TestKubernetesExample compares them).
var containerSecurityArgs = []string{
	"--user", fmt.Sprintf("%d:%d", containerUID, containerUID),
	"--cap-drop", "ALL",
	"--read-only",
	"--security-opt", "no-new-privileges",
}

// containerCommand is what the containers run: the image's default command
// (the Containerfile's CMD), spelled out so the Kubernetes example can be
// compared with it.
var containerCommand = []string{"up", "-f", "wg0"}

// containerConfPath is where the image's default command reads the config.
const containerConfPath = "/etc/wireguard/wg0.conf"

// podman runs Podman against a storage root of the test's own, so the test
// neither depends on nor changes the machine's containers, images or
// configuration.
type podman struct {
	dir    string   // everything podman stores for this test
	global []string // flags before the subcommand
	env    []string // CONTAINERS_CONF pointing at the test's file
	image  string
}

// newPodman prepares a private Podman and builds the image with `make
// image`, as a user would. Everything is removed when t ends, also when it
// fails.
func newPodman(t *testing.T, ctx context.Context) *podman {
	t.Helper()
	RequireE2E(t)
	if reason := MissingPrerequisite("podman", "runc", "make", "unshare"); reason != "" {
		skipOrFail(t, reason)
	}
	dir, err := os.MkdirTemp("", "wgu-podman-")
	if err != nil {
		t.Fatal(err)
	}
	// Podman's default nofile limit is above this kind of VM's hard limit;
	// the test's own containers.conf sets none.
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &podman{
		dir: dir,
		global: []string{
			"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"),
			"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "vfs",
			"--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
		},
		env:   append(os.Environ(), "CONTAINERS_CONF="+conf),
		image: "localhost/wgu-e2e:test",
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		p.run(ctx, "rm", "--force", "--all", "--time", "0")
		p.run(ctx, "rmi", "--all", "--force")
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the test's podman storage: %v", err)
		}
	})

	start := time.Now()
	// Committing an image updates c/image's blob-info cache, which for root
	// is always /var/lib/containers/cache: build in a mount namespace where
	// that is a throwaway tmpfs (over /var/lib when it does not exist yet,
	// so that it is not created either).
	const privateCache = `if [ -d /var/lib/containers ]; then mount -t tmpfs none /var/lib/containers; ` +
		`else mount -t tmpfs none /var/lib; fi && exec "$@"`
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", privateCache, "sh",
		"make", "-C", "..", "image", "CONTAINER=podman "+strings.Join(p.global, " "), "IMAGE="+p.image,
		"IMAGE_CONTEXT="+filepath.Join(dir, "context"))
	cmd.Env = p.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image took %v", time.Since(start).Round(time.Second))
	return p
}

// run runs podman with args and returns its stdout and stderr.
func (p *podman) run(ctx context.Context, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, "podman", append(append([]string{}, p.global...), args...)...)
	cmd.Env = p.env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), stderr.String(), err
}

// must runs podman and fails t unless it succeeds; it returns stdout.
func (p *podman) must(ctx context.Context, t testing.TB, args ...string) string {
	t.Helper()
	out, _, err := p.run(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// container is one wgu container of a test.
type container struct {
	p    *podman
	name string
}

// start runs the image detached in namespace ns with the test's security
// flags, the config at conf (unless "") mounted where the image reads it,
// and extra flags (mounts, secrets). It does not wait for the tunnel.
func (p *podman) start(ctx context.Context, t testing.TB, name string, ns *Netns, conf string, extra ...string) *container {
	t.Helper()
	args := []string{"run", "--detach", "--pull", "never", "--name", name,
		"--network", "ns:/run/netns/" + ns.Name, "--env", "LOG_LEVEL=verbose"}
	if conf != "" {
		// The config is the container user's own, as wg-quick wants a
		// private key's file to be.
		if err := os.Chown(conf, containerUID, containerUID); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--volume", conf+":"+containerConfPath+":ro")
	}
	args = append(args, containerSecurityArgs...)
	args = append(args, extra...)
	args = append(append(args, p.image), containerCommand...)
	p.must(ctx, t, args...)
	return &container{p: p, name: name}
}

// logs is everything the container wrote.
func (c *container) logs(ctx context.Context) string {
	out, errOut, err := c.p.run(ctx, "logs", c.name)
	if err != nil {
		return err.Error()
	}
	return out + errOut
}

// exec runs a command in the running container.
func (c *container) exec(ctx context.Context, args ...string) (string, error) {
	out, _, err := c.p.run(ctx, append([]string{"exec", c.name}, args...)...)
	return out, err
}

// state is the container's status and, once it exited, its exit code.
func (c *container) state(ctx context.Context) (status string, exitCode int, err error) {
	out, _, err := c.p.run(ctx, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", c.name)
	if err != nil {
		return "", 0, err
	}
	status, code, _ := strings.Cut(strings.TrimSpace(out), " ")
	exitCode, err = strconv.Atoi(code)
	return status, exitCode, err
}

// waitHealthy polls `wgu health` inside the container (the exec probe of
// the Kubernetes example) until it passes, failing t if the container
// exits first.
func (c *container) waitHealthy(ctx context.Context, t testing.TB, healthArgs ...string) string {
	t.Helper()
	var out string
	err := waitFor(ctx, c.name+" healthy", func() bool {
		var err error
		out, err = c.exec(ctx, append([]string{"wgu", "health"}, healthArgs...)...)
		if err == nil {
			return true
		}
		status, _, serr := c.state(ctx)
		return serr != nil || status != "running"
	})
	if status, code, _ := c.state(ctx); err != nil || status != "running" {
		t.Fatalf("container %s did not become healthy (%v; %s, exit code %d):\n%s", c.name, err, status, code, c.logs(ctx))
	}
	return out
}

// stop is `podman stop`: SIGTERM, then SIGKILL after 10 s. It returns how
// long the container took and its exit code.
func (c *container) stop(ctx context.Context, t testing.TB) (time.Duration, int) {
	t.Helper()
	start := time.Now()
	c.p.must(ctx, t, "stop", "--time", "10", c.name)
	took := time.Since(start)
	status, code, err := c.state(ctx)
	if err != nil || status != "exited" {
		t.Fatalf("after podman stop %s: %s, %v", c.name, status, err)
	}
	return took, code
}

// rss is the resident memory of the container's main process.
func (c *container) rss(ctx context.Context) (string, error) {
	out, _, err := c.p.run(ctx, "inspect", "--format", "{{.State.Pid}}", c.name)
	if err != nil {
		return "", err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return "", err
	}
	return procRSS(pid)
}

// procRSS is a process's resident memory as /proc says it (e.g. "35 kB").
func procRSS(pid int) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// unmountUnder lazily unmounts whatever podman left mounted below dir (a
// container's /dev/shm after a failed removal), deepest first, so the
// directory can be removed.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, m := range points {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
}
