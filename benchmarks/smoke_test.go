package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSmoke runs the suite in -smoke mode (raw veth, wgu TUN, wgu netstack
// on one side; 1 rep of 2 s runs) and checks results.json. It skips without
// root, /dev/net/tun or the tools, unless WGU_E2E=required:
//
//	sudo WGU_E2E=required go test -count=1 -run Smoke ./benchmarks
func TestSmoke(t *testing.T) {
	if reason := missingPrerequisite(); reason != "" {
		if os.Getenv("WGU_E2E") == "required" {
			t.Fatalf("benchmark prerequisites missing (WGU_E2E=required): %s", reason)
		}
		t.Skipf("benchmark prerequisites missing: %s (set WGU_E2E=required to fail instead)", reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out := t.TempDir()
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	start := time.Now()
	if _, err := Run(ctx, log, Options{Smoke: true, Out: out}); err != nil {
		t.Fatal(err)
	}
	t.Logf("smoke run took %s", time.Since(start).Round(time.Millisecond))

	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("results.json does not parse: %v", err)
	}
	want := map[string]bool{rowVeth: false, rowWguTUN: false, rowWguNetstack1: false}
	for _, row := range rep.Rows {
		if _, ok := want[row.ID]; !ok {
			t.Errorf("row %s is not in the smoke set", row.ID)
			continue
		}
		want[row.ID] = true
		if row.Skipped != "" || len(row.Errors) > 0 {
			t.Errorf("row %s: skipped %q, errors %q", row.ID, row.Skipped, row.Errors)
			continue
		}
		for _, key := range []string{"gbps_1_ab", "gbps_1_ba"} {
			if v := row.Median[key]; !(v > 0) {
				t.Errorf("row %s: %s = %v, want > 0", row.ID, key, v)
			}
		}
	}
	for id, seen := range want {
		if !seen {
			t.Errorf("row %s missing from results.json", id)
		}
	}
	for _, name := range []string{"results.md", "chart.svg"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written (%v)", name, err)
		}
	}
}

// testWriter sends the suite's progress log to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
