package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a TCP helper that runs inside namespaces:
// TestMain runs the helper instead of the tests when helperEnv is set.
const (
	helperEnv      = "WGU_E2E_HELPER"     // "sink" or "source"
	helperAddrEnv  = "WGU_E2E_ADDR"       // listen (sink) or dial (source) address
	helperBytesEnv = "WGU_E2E_BYTES"      // how much the source sends
	helperPaceEnv  = "WGU_E2E_CHUNK_WAIT" // pause after each chunk (a time.Duration), to stretch a stream
	helperChunk    = 64 << 10
	helperDialWait = 15 * time.Second
)

// runHelper runs helper mode and returns the exit code. It prints
// "listening" and "peer ADDR" (sink) and finally "sha256 HEX BYTES" on
// stdout.
func runHelper(mode string) int {
	var err error
	switch mode {
	case "sink":
		err = runSink(os.Getenv(helperAddrEnv))
	case "source":
		err = runSource(os.Getenv(helperAddrEnv), os.Getenv(helperBytesEnv), os.Getenv(helperPaceEnv))
	case "browser":
		err = runBrowser()
	default:
		err = runServiceHelper(mode, os.Getenv(helperAddrEnv))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// runSink accepts one connection and hashes everything it reads.
func runSink(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println("listening")
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("peer", c.RemoteAddr())
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	fmt.Printf("sha256 %s %d\n", hex.EncodeToString(h.Sum(nil)), n)
	return nil
}

// runSource dials addr (retrying while the tunnel comes up) and sends
// size bytes of pseudo-random data.
func runSource(addr, sizeText, paceText string) error {
	size, err := strconv.ParseInt(sizeText, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %w", helperBytesEnv, err)
	}
	var pace time.Duration
	if paceText != "" {
		if pace, err = time.ParseDuration(paceText); err != nil {
			return fmt.Errorf("%s: %w", helperPaceEnv, err)
		}
	}
	var c net.Conn
	deadline := time.Now().Add(helperDialWait)
	for {
		c, err = dialSource(addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	return sendStream(c, size, pace)
}

// transfer is one TCP stream between two namespaces through helpers.
type transfer struct {
	sink, source *Proc
}

// startTransfer starts a sink listening on listen (ip:port) in dst and a
// source in src sending size bytes to it; pace pauses after each 64 KiB.
func startTransfer(t testing.TB, ctx context.Context, src, dst *Netns, listen string, size int64, pace time.Duration) *transfer {
	t.Helper()
	return startTransferVia(t, ctx, src, dst, listen, listen, size, pace)
}

// startTransferVia is startTransfer where the source dials a different
// address than the sink listens on: a forward or proxy in between.
func startTransferVia(t testing.TB, ctx context.Context, src, dst *Netns, dial, listen string, size int64, pace time.Duration) *transfer {
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
	source, err := src.StartEnv([]string{
		helperEnv + "=source", helperAddrEnv + "=" + dial,
		helperBytesEnv + "=" + strconv.FormatInt(size, 10), helperPaceEnv + "=" + pace.String(),
	}, exe)
	if err != nil {
		t.Fatal(err)
	}
	return &transfer{sink: sink, source: source}
}

// check waits for both ends and compares what was sent with what arrived.
func (tr *transfer) check(ctx context.Context) error {
	for _, p := range []*Proc{tr.source, tr.sink} {
		if err := p.Wait(ctx); err != nil {
			return fmt.Errorf("%w; stderr: %s", err, p.Stderr())
		}
	}
	sent, got := outputLine(tr.source.Stdout(), "sha256 "), outputLine(tr.sink.Stdout(), "sha256 ")
	if sent == "" || sent != got {
		return errors.New("checksum mismatch: sent " + sent + ", received " + got)
	}
	return nil
}

// outputLine returns the first line of out that starts with prefix, or "".
func outputLine(out, prefix string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// mustTransfer runs one complete transfer and fails t if it does not
// arrive intact.
func mustTransfer(t testing.TB, ctx context.Context, src, dst *Netns, listen string, size int64) {
	t.Helper()
	if err := startTransfer(t, ctx, src, dst, listen, size, 0).check(ctx); err != nil {
		t.Fatalf("%s -> %s: %v", src.Role, dst.Role, err)
	}
}
