package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is results.json.
type Report struct {
	Machine  Machine      `json:"machine"`
	Settings Settings     `json:"settings"`
	Metrics  []metricInfo `json:"metrics"`
	// FloodMetrics are the figures of the flood rows (Kind "flood").
	FloodMetrics []metricInfo `json:"flood_metrics,omitempty"`
	Rows         []*RowResult `json:"rows"`
}

// Machine describes where the suite ran.
type Machine struct {
	CPU                string `json:"cpu"`
	Cores              int    `json:"cores"`
	Kernel             string `json:"kernel"`
	GoVersion          string `json:"go_version"`
	Iperf3             string `json:"iperf3"`
	WireguardGoVersion string `json:"wireguard_go_version"` // the version go.mod pins
	Date               string `json:"date"`
	LoadAvg            string `json:"loadavg"` // /proc/loadavg at the start: other load skews figures
}

// Settings are the options the figures were taken with.
type Settings struct {
	Reps         int     `json:"reps"`
	DurationSecs float64 `json:"duration_seconds"`
	Smoke        bool    `json:"smoke"`
	Loss         bool    `json:"loss"`
	PingCount    int     `json:"ping_count"`
	PingInterval string  `json:"ping_interval"`
}

// RowResult is one implementation's figures.
type RowResult struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Kind        string             `json:"kind,omitempty"` // "flood": a flood row (see flood.go)
	Description string             `json:"description"`
	Skipped     string             `json:"skipped,omitempty"` // why it did not run here
	Errors      []string           `json:"errors,omitempty"`  // failed repetitions
	Notes       []string           `json:"notes,omitempty"`
	Reps        []RepResult        `json:"reps"`
	Median      map[string]float64 `json:"median"`
	// Ratios of the medians to those of the reference rows of this run
	// (absent when the reference did not run).
	VsWireguardGo map[string]float64 `json:"vs_wireguard_go,omitempty"`
	VsKernel      map[string]float64 `json:"vs_kernel,omitempty"`
	// Ratios to the peer engine (wireguard-go's netstack with a gonet
	// forward), for throughput rows.
	VsPeerEngine map[string]float64 `json:"vs_peer_engine,omitempty"`
}

// RepResult is one repetition of a row.
type RepResult struct {
	Metrics map[string]float64 `json:"metrics"`
	Iperf   []iperfRun         `json:"iperf"`
	PingMs  []float64          `json:"ping_ms,omitempty"`
	notes   []string
}

// metricInfo describes a figure.
type metricInfo struct {
	Key          string `json:"key"`
	Label        string `json:"label"`
	Unit         string `json:"unit"`
	HigherBetter bool   `json:"higher_is_better"`
}

func metricInfos() []metricInfo {
	return []metricInfo{
		{"gbps_1_ab", "1 stream A→B", "Gbit/s", true},
		{"gbps_1_ba", "1 stream B→A", "Gbit/s", true},
		{"gbps_4_ab", "4 streams A→B", "Gbit/s", true},
		{"gbps_4_ba", "4 streams B→A", "Gbit/s", true},
		{"ping_p50_ms", "ping p50", "ms", false},
		{"ping_p99_ms", "ping p99", "ms", false},
		{"cpu_s_per_gb", "CPU", "s/GB", false},
		{"peak_rss_mib", "peak RSS", "MiB", false},
		{"startup_ms", "up → 1st reply", "ms", false},
	}
}

func settingsOf(o Options) Settings {
	return Settings{Reps: o.Reps, DurationSecs: o.Duration.Seconds(), Smoke: o.Smoke, Loss: o.Loss, PingCount: pingCount, PingInterval: pingInterval.String()}
}

func describeMachine(ctx context.Context) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil && len(strings.Fields(string(b))) >= 3 {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, "iperf3", "--version").Output(); err == nil {
		m.Iperf3, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	return m
}

// failedRows lists the rows with a failed repetition.
func (r *Report) failedRows() []string {
	var ids []string
	for _, row := range r.Rows {
		if len(row.Errors) > 0 {
			ids = append(ids, row.ID)
		}
	}
	return ids
}

func (r *Report) row(id string) *RowResult {
	for _, row := range r.Rows {
		if row.ID == id && len(row.Reps) > 0 {
			return row
		}
	}
	return nil
}

// summarize computes every row's medians and its ratios to the reference
// rows.
func (r *Report) summarize() {
	for _, row := range r.Rows {
		row.Median = map[string]float64{}
		for _, m := range append(slices.Clone(r.Metrics), r.FloodMetrics...) {
			var vals []float64
			for _, rep := range row.Reps {
				if v, ok := rep.Metrics[m.Key]; ok && !math.IsNaN(v) {
					vals = append(vals, v)
				}
			}
			if len(vals) > 0 {
				row.Median[m.Key] = median(vals)
			}
		}
	}
	ratios := func(row, ref *RowResult) map[string]float64 {
		if ref == nil {
			return nil
		}
		out := map[string]float64{}
		for k, v := range row.Median {
			if rv, ok := ref.Median[k]; ok && rv != 0 {
				out[k] = v / rv
			}
		}
		return out
	}
	wggo, kernel, peer := r.row(rowWireguardGo), r.row(rowKernel), r.row(rowPeerEngine)
	floodWggo := r.row(rowFloodWireguardGo)
	for _, row := range r.Rows {
		if row.Kind == kindFlood {
			row.VsWireguardGo = ratios(row, floodWggo)
			continue
		}
		row.VsWireguardGo = ratios(row, wggo)
		row.VsKernel = ratios(row, kernel)
		row.VsPeerEngine = ratios(row, peer)
	}
}

// throughputRows are the rows of the main tables (all but the flood rows).
func (r *Report) throughputRows() []*RowResult {
	var rows []*RowResult
	for _, row := range r.Rows {
		if row.Kind != kindFlood {
			rows = append(rows, row)
		}
	}
	return rows
}

// rowsOf returns the rows of the given ids that are in the report, in
// report order.
func (r *Report) rowsOf(ids ...string) []*RowResult {
	var rows []*RowResult
	for _, row := range r.Rows {
		if slices.Contains(ids, row.ID) {
			rows = append(rows, row)
		}
	}
	return rows
}

func median(vals []float64) float64 {
	s := slices.Sorted(slices.Values(vals))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// write puts results.json, results.md and chart.svg into dir.
func (r *Report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("making output directory: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	files := map[string][]byte{
		"results.json": append(js, '\n'),
		"results.md":   []byte(r.markdown()),
		"chart.svg":    []byte(r.chart()),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// fmtValue prints a figure with precision suited to its size.
func fmtValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.1 || a == 0:
		return fmt.Sprintf("%.2f", v)
	default:
		// Two significant digits: a stream at 5 % loss moves a few
		// Mbit/s, which two decimals of Gbit/s would print as 0.00.
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

// Each side's peak RSS in a rep's figures (results.json and the progress
// log). The table shows only the larger; these say which side it was, which
// a memory regression's bisect needs first: the netstack row's peak of
// 800 MiB was B's, the TUN side, not the netstack's.
const (
	peakRSSAKey = "peak_rss_a_mib"
	peakRSSBKey = "peak_rss_b_mib"
)

// fmtMetrics prints a rep's figures for the progress log.
func fmtMetrics(m map[string]float64) string {
	var parts []string
	for _, info := range append(append(metricInfos(), lossMetricInfos()...), floodMetricInfos()...) {
		if v, ok := m[info.Key]; ok {
			parts = append(parts, fmt.Sprintf("%s=%s", info.Key, fmtValue(v)))
		}
	}
	for _, k := range []string{peakRSSAKey, peakRSSBKey} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%s", k, fmtValue(v)))
		}
	}
	return strings.Join(parts, " ")
}

// markdown is results.md.
func (r *Report) markdown() string {
	var b strings.Builder
	m := r.Machine
	b.WriteString("# wgu benchmarks\n\n")
	fmt.Fprintf(&b, "- machine: %s, %d cores, Linux %s\n", m.CPU, m.Cores, m.Kernel)
	fmt.Fprintf(&b, "- %s, %s, upstream wireguard-go %s\n", m.GoVersion, m.Iperf3, m.WireguardGoVersion)
	fmt.Fprintf(&b, "- date: %s, load average at the start: %s\n", m.Date, m.LoadAvg)
	s := r.Settings
	fmt.Fprintf(&b, "- %d repetition(s) of %gs iperf3 runs per figure; medians shown", s.Reps, s.DurationSecs)
	if s.Smoke {
		b.WriteString(" (smoke run: not a measurement)")
	}
	b.WriteString("\n\n")
	b.WriteString("Namespace A (iperf3 client) and B (iperf3 server) are joined by a veth; A→B is iperf3's upload, " +
		"B→A its download (-R). Throughput is at the receiver. Ping: " + fmt.Sprint(s.PingCount) + " pings " + s.PingInterval +
		" apart through the tunnel (`wgu ping` from netstack). CPU: user+system seconds of the tunnel processes " +
		"(both sides) per GB received, over all iperf3 runs; n/a where the work is in the kernel. Peak RSS: the larger VmHWM of the two " +
		"tunnel processes (each side's is in results.json). Start-up: from starting side A's tunnel (B already up) to the first ping reply, handshake included.\n\n")
	if s.Loss {
		b.WriteString("With -loss, the TUN and netstack rows also run one stream each way with 1 % and 5 % of the WireGuard " +
			"datagrams dropped at random on input in both namespaces (nftables numgen; veth offloads off, so a drop is one " +
			"datagram; kernel TCP on cubic, iperf3 -C), and an A→B stream through a restart of B's tunnel (wgu down, 3 s, wgu up): the time from B's new " +
			"handshake until the receiver gets half its earlier rate over a second (100 ms iperf3 intervals).\n\n")
	}

	main := r.throughputRows()
	r.table(&b, "Figures", main, r.Metrics, func(row *RowResult) map[string]float64 { return row.Median }, false)
	if r.row(rowWireguardGo) != nil {
		r.table(&b, "Relative to upstream wireguard-go (same run; >1 is faster for throughput, slower/bigger otherwise)",
			main, r.Metrics, func(row *RowResult) map[string]float64 { return row.VsWireguardGo }, true)
	}
	if r.row(rowKernel) != nil {
		r.table(&b, "Relative to kernel WireGuard (same run)",
			main, r.Metrics, func(row *RowResult) map[string]float64 { return row.VsKernel }, true)
	}
	if r.row(rowPeerEngine) != nil {
		r.table(&b, "wgu's netstack relative to the peer engine (wireguard-go's tun/netstack with a gonet forward, same run)",
			r.rowsOf(rowWguNetstack1, rowWguNetstack2), r.Metrics, func(row *RowResult) map[string]float64 { return row.VsPeerEngine }, true)
	}
	if flood := r.floodRows(); len(flood) > 0 {
		r.table(&b, "Under a handshake flood", flood, r.FloodMetrics, func(row *RowResult) map[string]float64 { return row.Median }, false)
		b.WriteString("One stream A→B through the tunnel, alone and while namespace F (linked to B only) sends B's WireGuard " +
			"port handshake initiations with a valid MAC1 at the given rate. \"no flood\": the mean of a stream before and one " +
			"after the flooded ones; \"share kept\": the flooded stream's throughput as a percentage of it, per repetition. " +
			"Each flood runs " + floodWarmup.String() + " alone, then " + floodIdle.String() + " alone while the hub's (B's) " +
			"CPU time (per initiation sent), its UDP receive-buffer drops and the datagrams it sends (cookie replies: the " +
			"tunnel is idle) are counted, then under the stream. \"sent\" is the rate the generator reached. Medians.\n\n")
		if r.row(rowFloodWireguardGo) != nil {
			r.table(&b, "Under a handshake flood, relative to upstream wireguard-go (same run)", flood, r.FloodMetrics,
				func(row *RowResult) map[string]float64 { return row.VsWireguardGo }, true)
		}
	}

	b.WriteString("## Rows\n\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "- **%s** (`%s`): %s", row.Name, row.ID, row.Description)
		if row.Skipped != "" {
			fmt.Fprintf(&b, ". Skipped: %s", row.Skipped)
		}
		b.WriteString("\n")
		for _, n := range row.Notes {
			fmt.Fprintf(&b, "  - note: %s\n", n)
		}
		for _, e := range row.Errors {
			fmt.Fprintf(&b, "  - error: %s\n", strings.ReplaceAll(strings.TrimSpace(e), "\n", " "))
		}
	}
	b.WriteString("\n![single-stream throughput](chart.svg)\n")
	return b.String()
}

// floodRows are the flood rows of the report.
func (r *Report) floodRows() []*RowResult {
	var rows []*RowResult
	for _, row := range r.Rows {
		if row.Kind == kindFlood {
			rows = append(rows, row)
		}
	}
	return rows
}

// table writes one Markdown table of the rows' figures.
func (r *Report) table(b *strings.Builder, title string, rows []*RowResult, metrics []metricInfo, values func(*RowResult) map[string]float64, ratio bool) {
	fmt.Fprintf(b, "## %s\n\n| implementation |", title)
	for _, m := range metrics {
		if ratio {
			fmt.Fprintf(b, " %s |", m.Label)
		} else {
			fmt.Fprintf(b, " %s (%s) |", m.Label, m.Unit)
		}
	}
	b.WriteString("\n|---|")
	for range metrics {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, row := range rows {
		fmt.Fprintf(b, "| %s |", row.Name)
		vals := values(row)
		for _, m := range metrics {
			v, ok := vals[m.Key]
			switch {
			case row.Skipped != "":
				b.WriteString(" skipped |")
			case len(row.Reps) == 0:
				b.WriteString(" failed |")
			case !ok:
				b.WriteString(" n/a |")
			case ratio:
				fmt.Fprintf(b, " ×%.2f |", v)
			default:
				fmt.Fprintf(b, " %s |", fmtValue(v))
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// chart is chart.svg: a horizontal bar chart of the single-stream
// throughput of each row, one bar per direction.
func (r *Report) chart() string {
	const (
		width    = 860
		labelW   = 250
		plotW    = width - labelW - 70
		top      = 64
		barH     = 14
		groupGap = 14
	)
	var rows []*RowResult
	for _, row := range r.throughputRows() {
		if len(row.Reps) > 0 {
			rows = append(rows, row)
		}
	}
	maxV := 0.0
	for _, row := range rows {
		maxV = max(maxV, row.Median["gbps_1_ab"], row.Median["gbps_1_ba"])
	}
	scale := niceCeil(maxV)
	height := top + len(rows)*(2*barH+groupGap) + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">Single-stream TCP throughput (Gbit/s, median of %d)</text>`+"\n", 10, r.Settings.Reps)
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555">%s · %d cores · Linux %s</text>`+"\n", 10, xmlEscape(r.Machine.CPU), r.Machine.Cores, xmlEscape(r.Machine.Kernel))
	colors := [2]string{"#3b6fb6", "#e08a2c"}
	for i, name := range []string{"A→B", "B→A (-R)"} {
		x := labelW + i*110
		fmt.Fprintf(&b, `<rect x="%d" y="48" width="12" height="12" fill="%s"/><text x="%d" y="58">%s</text>`+"\n", x, colors[i], x+16, name)
	}
	plotH := len(rows) * (2*barH + groupGap)
	for i := 0; i <= 5; i++ {
		v := scale * float64(i) / 5
		x := labelW + int(float64(plotW)*float64(i)/5)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>`+"\n", x, top, x, top+plotH)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x, top+plotH+16, fmtValue(v))
	}
	for i, row := range rows {
		y := top + i*(2*barH+groupGap) + groupGap/2
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-8, y+barH+4, xmlEscape(row.Name))
		for j, key := range []string{"gbps_1_ab", "gbps_1_ba"} {
			v, ok := row.Median[key]
			by := y + j*barH
			if !ok {
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">n/a</text>`+"\n", labelW+4, by+barH-3)
				continue
			}
			w := 0
			if scale > 0 {
				w = int(float64(plotW) * v / scale)
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`, labelW, by, w, barH-2, colors[j])
			fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", labelW+w+4, by+barH-3, fmtValue(v))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
