package main

import (
	"strings"
	"testing"
)

// TestReportPeerEngineAndFlood checks the ratios and tables of the
// peer-engine and flood rows: flood rows stay out of the throughput
// tables and are compared with the upstream flood row, netstack rows with
// the peer engine.
func TestReportPeerEngineAndFlood(t *testing.T) {
	rep := func(m map[string]float64) []RepResult { return []RepResult{{Metrics: m}} }
	r := &Report{Metrics: metricInfos(), FloodMetrics: floodMetricInfos(), Rows: []*RowResult{
		{ID: rowWguNetstack1, Name: "wgu netstack", Reps: rep(map[string]float64{"gbps_1_ab": 3, "gbps_1_ba": 2})},
		{ID: rowPeerEngine, Name: "peer engine", Reps: rep(map[string]float64{"gbps_1_ab": 1, "gbps_1_ba": 1})},
		{ID: rowFloodWireguardGo, Name: "upstream flooded", Kind: kindFlood, Reps: rep(map[string]float64{"flood_20k_share": 50})},
		{ID: rowFloodWguTUN, Name: "wgu flooded", Kind: kindFlood, Reps: rep(map[string]float64{"flood_20k_share": 60})},
	}}
	r.summarize()
	if got := r.Rows[0].VsPeerEngine["gbps_1_ab"]; got != 3 {
		t.Errorf("netstack vs peer engine A→B = %v, want 3", got)
	}
	if got := r.Rows[3].VsWireguardGo["flood_20k_share"]; got != 1.2 {
		t.Errorf("wgu flood share vs upstream = %v, want 1.2", got)
	}
	if r.Rows[3].VsPeerEngine != nil {
		t.Error("a flood row got peer-engine ratios")
	}
	md := r.markdown()
	figures := md[strings.Index(md, "## Figures"):strings.Index(md, "## wgu's netstack relative")]
	if strings.Contains(figures, "flooded") {
		t.Errorf("flood rows in the throughput table:\n%s", figures)
	}
	for _, want := range []string{"| wgu netstack | ×3.00 | ×2.00 |", "## Under a handshake flood", "| wgu flooded |", "×1.20"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(r.chart(), "flooded") {
		t.Error("flood rows in the chart")
	}
}
