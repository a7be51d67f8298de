package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// wireguardModule is upstream wireguard-go's module; its main package is
// the module root.
const wireguardModule = "golang.zx2c4.com/wireguard"

// bench is one run of the suite.
type bench struct {
	log  *slog.Logger
	opts Options
	tmp  string // binaries and configs; removed at the end

	wgu        string // built from this repository
	upstream   string // upstream wireguard-go; "" if it could not be built
	upstreamVs string // its module version
	debian     string // a wireguard-go found on PATH; "" if none
	peerEngine string // benchmarks/internal/peerengine; "" if not needed or not built
	flood      string // benchmarks/internal/flood; "" if not needed or not built
	noBuild    map[string]string
}

func lookPath(name string) (string, error) { return exec.LookPath(name) }

// buildAll builds wgu and, when a selected row needs it, upstream
// wireguard-go, and records the versions in the report. Failing to build
// wgu stops the suite; failing to build wireguard-go skips its row.
func (b *bench) buildAll(ctx context.Context, specs []rowSpec, report *Report) error {
	b.noBuild = map[string]string{}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	b.wgu = filepath.Join(b.tmp, "wgu")
	b.log.Info("building wgu", "dir", root)
	if _, err := goCmd(ctx, root, nil, "build", "-o", b.wgu, "./cmd/wgu"); err != nil {
		return fmt.Errorf("building wgu: %w", err)
	}
	if v, err := goCmd(ctx, root, nil, "list", "-m", "-f", "{{.Version}}", wireguardModule); err == nil {
		b.upstreamVs = strings.TrimSpace(v)
	} else {
		return fmt.Errorf("finding the %s version go.mod pins: %w", wireguardModule, err)
	}
	report.Machine.WireguardGoVersion = b.upstreamVs
	for _, s := range specs {
		switch s.id {
		case rowWireguardGo:
			if err := b.buildUpstream(ctx); err != nil {
				b.log.Warn("cannot build upstream wireguard-go", "err", err)
				b.noBuild[s.id] = fmt.Sprintf("building %s@%s failed: %v", wireguardModule, b.upstreamVs, err)
			}
		case rowDebianWireguardGo:
			b.debian, _ = lookPath("wireguard-go")
		case rowPeerEngine:
			b.peerEngine = b.buildTool(ctx, root, s.id, "peerengine")
		}
		if s.kind == kindFlood {
			if s.id == rowFloodWireguardGo && b.upstream == "" && b.noBuild[s.id] == "" {
				if err := b.buildUpstream(ctx); err != nil {
					b.noBuild[s.id] = fmt.Sprintf("building %s@%s failed: %v", wireguardModule, b.upstreamVs, err)
				}
			}
			if b.flood == "" && b.noBuild[s.id] == "" {
				b.flood = b.buildTool(ctx, root, s.id, "flood")
			}
			if b.flood == "" && b.noBuild[s.id] == "" {
				b.noBuild[s.id] = "the flood generator could not be built"
			}
		}
	}
	return nil
}

// buildTool builds benchmarks/internal/NAME into the temporary directory
// and returns its path; on failure it records why row id cannot run and
// returns "".
func (b *bench) buildTool(ctx context.Context, root, id, name string) string {
	out := filepath.Join(b.tmp, name)
	b.log.Info("building "+name, "dir", root)
	if _, err := goCmd(ctx, root, nil, "build", "-o", out, "./benchmarks/internal/"+name); err != nil {
		b.log.Warn("cannot build "+name, "err", err)
		b.noBuild[id] = fmt.Sprintf("building benchmarks/internal/%s failed: %v", name, err)
		return ""
	}
	return out
}

// buildUpstream builds wireguard-go at the pinned version in a throwaway
// module, through the module cache or proxy.
func (b *bench) buildUpstream(ctx context.Context) error {
	dir := filepath.Join(b.tmp, "wggo-build")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("making build directory: %w", err)
	}
	mod := fmt.Sprintf("module wgubench/wireguardgo\n\ngo 1.24\n\nrequire %s %s\n", wireguardModule, b.upstreamVs)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o600); err != nil {
		return fmt.Errorf("writing go.mod: %w", err)
	}
	out := filepath.Join(b.tmp, "wireguard-go")
	b.log.Info("building upstream wireguard-go", "version", b.upstreamVs)
	if _, err := goCmd(ctx, dir, []string{"GOFLAGS=-mod=mod", "GOWORK=off"}, "build", "-o", out, wireguardModule); err != nil {
		return err
	}
	b.upstream = out
	return nil
}

// moduleRoot is the directory of this repository's go.mod, found from the
// working directory (the repository root under `go run`, benchmarks/ under
// `go test`).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := goCmd(ctx, "", nil, "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(out)
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the wgu module (go env GOMOD is %q): run from the repository", gomod)
	}
	return filepath.Dir(gomod), nil
}

// goCmd runs the go tool in dir and returns its stdout.
func goCmd(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(errb.Bytes()))
	}
	return out.String(), nil
}

// skipReason says why row s cannot run on this machine, or "".
func (b *bench) skipReason(s rowSpec) string {
	if r := b.noBuild[s.id]; r != "" {
		return r
	}
	if s.id == rowDebianWireguardGo && b.debian == "" {
		return "no wireguard-go on PATH"
	}
	if s.needsWg {
		if _, err := lookPath("wg"); err != nil {
			return "wg (wireguard-tools) not found in PATH"
		}
	}
	return ""
}
