package main

import (
	"testing"
	"time"
)

// TestServerProgress checks the reading of iperf3's --get-server-output intervals into receive rates.
func TestServerProgress(t *testing.T) {
	out := `{"server_output_json":{"intervals":[
		{"sum":{"end":0.1,"bytes":1000}},{"sum":{"end":0.2,"bytes":1000}},
		{"sum":{"end":0.3,"bytes":0}},{"sum":{"end":0.4,"bytes":3000}}]}}`
	start := time.Unix(100, 0)
	pts, err := serverProgress(out, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 4 || pts[3].bytes != 5000 || !pts[3].at.Equal(start.Add(400*time.Millisecond)) {
		t.Fatalf("points %+v", pts)
	}
	if r := progressRate(pts, start.Add(100*time.Millisecond), start.Add(400*time.Millisecond)); r < 13333 || r > 13334 {
		t.Errorf("rate %v, want 4000 B / 0.3 s", r)
	}
	if _, err := serverProgress(`{"error":"busy"}`, start); err == nil {
		t.Error("an iperf3 error was not reported")
	}
}
