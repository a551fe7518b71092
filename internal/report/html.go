package report

import (
	"encoding/base64"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/rollout"
)

// HTML renders a self-contained page (no external assets, screenshots inlined): a table
// of contents, the enforcement latency per step as bars, per step the expected and
// observed grids side by side with wrong cells framed, and per rollout its timeline as a
// strip chart (calico pod events above, deviations below) and as a table.
func (r *Run) HTML() string {
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>netpol e2e report</title><style>
body{font-family:sans-serif;margin:20px;color:#222;max-width:1400px}table.m{border-collapse:collapse;margin:4px 0 12px}
table.m td,table.m th{border:1px solid #ccc;padding:2px 6px;font-family:monospace;text-align:center;font-size:12px}
td.a{background:#c8f0c8}td.b{background:#f4c4c4}td.n{background:#eee}td.w{outline:3px solid #d00;font-weight:bold}
.pass{color:#080}.fail{color:#c00}.bar{background:#58a;height:12px;display:inline-block}pre{background:#f6f6f6;padding:6px;overflow-x:auto}
.pair{display:flex;gap:24px;flex-wrap:wrap}.pair h4{margin:4px 0}table.t{border-collapse:collapse;font-size:12px}
table.t td{border-bottom:1px solid #eee;padding:1px 8px;vertical-align:top}tr.leak td{background:#f4c4c4}tr.down td,tr.other td{background:#fbe3c4}
tr.calico td{color:#225}tr.harness td{color:#555;font-style:italic}img.shot{border:1px solid #999;max-width:100%}
</style></head><body>`)
	fmt.Fprintf(&b, "<h1>%s</h1><p>%s &rarr; %s (%s)</p>", html.EscapeString(r.Suite), r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	// Contents: every step and check, with its verdict.
	b.WriteString("<h2>Contents</h2><ol>")
	for _, s := range r.Steps {
		cls, res := verdict(s)
		extra := ""
		if s.Rollout != nil {
			extra = fmt.Sprintf(" &mdash; rollout %s &rarr; %s: %d leaks, worst down %dms", html.EscapeString(s.Rollout.From), html.EscapeString(s.Rollout.To), s.Rollout.Leaks, s.Rollout.WorstDownMs)
		}
		fmt.Fprintf(&b, `<li><a href="#%s">%s</a> <span class="%s">%s</span>%s</li>`, anchor(s.Name), html.EscapeString(s.Name), cls, res, extra)
	}
	b.WriteString("</ol><h2>Environment</h2><ul>")
	for _, k := range sortedKeys(r.Environment) {
		fmt.Fprintf(&b, "<li>%s: %s</li>", html.EscapeString(k), html.EscapeString(r.Environment[k]))
	}
	for _, k := range sortedKeys(r.Timings) {
		fmt.Fprintf(&b, "<li>%s: %s</li>", html.EscapeString(k), html.EscapeString(r.Timings[k]))
	}
	b.WriteString("</ul><h2>Enforcement latency</h2><table>")
	var maxLat, maxCell time.Duration
	for _, s := range r.Steps {
		maxLat = max(maxLat, s.Latency)
		if s.Enforcement != nil {
			_, _, worst, _ := s.Enforcement.Quantiles()
			maxCell = max(maxCell, worst)
		}
		if s.Replay != nil {
			maxCell = max(maxCell, s.Replay.P95().Max)
		}
	}
	for _, s := range r.Steps {
		if !s.timed() {
			continue
		}
		w := 0
		if maxLat > 0 {
			w = int(300 * s.Latency / maxLat)
		}
		fine := ""
		if e := s.Enforcement; e != nil {
			p50, p95, worst, _ := e.Quantiles()
			fine = fmt.Sprintf("per cell, every %s: p50 %s, p95 %s, max %s", e.Interval, ms(p50), ms(p95), ms(worst))
		}
		fmt.Fprintf(&b, `<tr><td><a href="#%s">%s</a></td><td><span class="bar" style="width:%dpx"></span> %s</td><td>%s</td></tr>`,
			anchor(s.Name), html.EscapeString(s.Name), w, s.Latency.Round(time.Millisecond), fine)
	}
	b.WriteString("</table><h2>Steps and checks</h2>")
	for _, s := range r.Steps {
		cls, res := verdict(s)
		fmt.Fprintf(&b, `<h3 id="%s"><span class="%s">%s</span> %s <small>(%s)</small></h3>`, anchor(s.Name), cls, res, html.EscapeString(s.Name), s.Duration.Round(time.Millisecond))
		if s.Expected != nil && s.Observed != nil {
			fmt.Fprintf(&b, `<div class="pair"><div><h4>expected</h4>%s</div><div><h4>observed</h4>%s</div></div>`, grid(s, s.Expected), grid(s, s.Observed))
		}
		for _, n := range s.lines() {
			fmt.Fprintf(&b, "<p>%s</p>", html.EscapeString(n))
		}
		if s.Enforcement != nil {
			b.WriteString(enforcementHTML(s.Enforcement, maxCell))
		}
		if s.Replay != nil {
			for _, st := range s.Replay.Steps {
				if st.Enforcement != nil {
					fmt.Fprintf(&b, "<h4>%s, replayed on %s</h4>%s", html.EscapeString(st.Step), html.EscapeString(s.Replay.Version), enforcementHTML(st.Enforcement, maxCell))
				}
			}
		}
		if len(s.Compared) > 0 {
			fmt.Fprintf(&b, "<pre>%s</pre>", html.EscapeString(CompareText(s.Compared)))
		}
		if s.Rollout != nil {
			b.WriteString(rolloutHTML(s.Rollout))
		}
		if s.Peer != nil {
			b.WriteString(s.Peer.html())
		}
		if s.Comparison != nil {
			fmt.Fprintf(&b, "<pre>%s</pre>", html.EscapeString(s.Comparison.Text()))
		}
		if len(s.Screenshot) > 0 {
			fmt.Fprintf(&b, `<p><img class="shot" alt="screenshot of %s" src="data:image/png;base64,%s"></p>`, html.EscapeString(s.Name), base64.StdEncoding.EncodeToString(s.Screenshot))
		}
		if s.Failed() {
			fmt.Fprintf(&b, "<pre>%s</pre>", html.EscapeString(s.Text()))
		}
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

func verdict(s *Step) (class, text string) {
	if s.Failed() {
		return "fail", "FAIL"
	}
	return "pass", "PASS"
}

// anchor makes a step name usable as an id.
func anchor(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, name)
}

// grid draws one of a step's matrices (expected or observed) in its own row and column
// order; a cell whose observed verdict differs from the expected one has a red frame and
// carries its probe's detail and repro command as a tooltip.
func grid(s *Step, m *matrix.Matrix) string {
	results := map[matrix.Cell]matrix.Result{}
	for _, r := range s.Results {
		results[r.Cell] = r
	}
	var b strings.Builder
	b.WriteString(`<table class="m"><tr><th>from \ to</th>`)
	for _, c := range m.Cols {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(c))
	}
	b.WriteString("</tr>")
	for r, row := range m.Rows {
		fmt.Fprintf(&b, "<tr><th>%s</th>", html.EscapeString(row))
		for c, col := range m.Cols {
			v := m.Cells[r][c]
			if v == matrix.NotProbed {
				b.WriteString(`<td class="n">-</td>`)
				continue
			}
			cell := matrix.Cell{Row: row, Col: col}
			class := "b"
			if v == matrix.Allowed {
				class = "a"
			}
			if obs, ok := s.Observed.Get(row, col); ok && obs != s.expected(cell) {
				class += " w"
			}
			res := results[cell]
			title := res.Detail
			if res.Repro != "" {
				title += "\nrepro: " + res.Repro
			}
			fmt.Fprintf(&b, `<td class="%s" title="%s">%s</td>`, class, html.EscapeString(title), v)
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	return b.String()
}

// rolloutHTML draws a rollout: its numbers, a strip chart and the timeline table.
func rolloutHTML(r *Rollout) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<p><b>%s &rarr; %s</b>", html.EscapeString(r.From), html.EscapeString(r.To))
	if r.Note != "" {
		fmt.Fprintf(&b, " <i>(%s)</i>", html.EscapeString(r.Note))
	}
	fmt.Fprintf(&b, "<br>%d cells probed every %dms per source, %d observations over %.1fs; rolled out %.1fs after apply."+
		"<br>leaks: <b>%d</b>; allowed cells down: %d runs, worst %dms %s (budget %dms); other deviations: %d; longest unprobed: %dms %s"+
		"<br>right but slow (&gt; %dms; down means not connected within %dms): %d probes, slowest %dms %s</p>",
		r.Cells, r.IntervalMs, r.Observations, float64(r.WindowMs)/1000, float64(r.RolledOutMs)/1000,
		r.Leaks, r.DownRuns, r.WorstDownMs, html.EscapeString(r.WorstDownCell), r.GapBudgetMs, r.Others, r.LongestHoleMs, html.EscapeString(r.LongestHoleCell),
		r.SlowThresholdMs, r.ProbeTimeoutMs, r.SlowProbes, r.SlowestMs, html.EscapeString(r.SlowestCell))
	if cs := r.ConnSummary(); cs != "" {
		fmt.Fprintf(&b, "<p>%s</p>", html.EscapeString(cs))
	}
	for _, v := range append(r.health(), r.Versions...) {
		fmt.Fprintf(&b, "<div><small>%s</small></div>", html.EscapeString(v))
	}
	b.WriteString(strip(r))
	b.WriteString(`<table class="t"><tr><th>s after apply</th><th>what</th><th></th></tr>`)
	for _, e := range r.Timeline {
		fmt.Fprintf(&b, `<tr class="%s"><td>%+.3f</td><td>%s</td><td>%s</td></tr>`, html.EscapeString(e.Kind), float64(r.Ms(e.At))/1000, html.EscapeString(e.Kind), html.EscapeString(e.Text))
	}
	b.WriteString("</table>")
	return b.String()
}

// strip is an inline SVG: time runs left to right; calico and harness events are ticks
// on the upper lane, slow probes short yellow ticks in the middle, each deviation a bar on
// the lower lane (red: leak, orange: down).
func strip(r *Rollout) string {
	if len(r.Timeline) == 0 {
		return ""
	}
	lo, hi := int64(0), int64(1)
	for _, e := range r.Timeline {
		lo, hi = min(lo, r.Ms(e.At)), max(hi, r.Ms(e.At))
	}
	for _, d := range r.Deviations {
		hi = max(hi, r.Ms(d.Last))
		if !d.Until.IsZero() {
			hi = max(hi, r.Ms(d.Until))
		}
	}
	const w, left = 1100.0, 10.0
	x := func(ms int64) float64 { return left + w*float64(ms-lo)/float64(hi-lo) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%.0f" height="86" role="img" aria-label="rollout timeline"><rect x="0" y="0" width="%.0f" height="86" fill="#fafafa"/>`, w+2*left, w+2*left)
	fmt.Fprintf(&b, `<text x="%.0f" y="12" font-size="10">calico / harness</text><text x="%.0f" y="58" font-size="10">deviations (slow probes: yellow ticks above)</text>`, left, left)
	for _, e := range r.Timeline {
		ms := r.Ms(e.At)
		color := ""
		switch e.Kind {
		case "calico":
			color = "#337"
		case "harness":
			color = "#999"
		case "slow":
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="44" y2="52" stroke="#cb0"><title>%+.3fs %s</title></line>`, x(ms), x(ms), float64(ms)/1000, html.EscapeString(e.Text))
			continue
		default:
			continue
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="16" y2="40" stroke="%s"><title>%+.3fs %s</title></line>`, x(ms), x(ms), color, float64(ms)/1000, html.EscapeString(e.Text))
	}
	for _, d := range r.Deviations {
		first, end := r.Ms(d.First), hi
		if !d.Until.IsZero() {
			end = r.Ms(d.Until)
		}
		color := "#e90"
		if d.Kind == rollout.Leak {
			color = "#d00"
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="60" width="%.1f" height="14" fill="%s"><title>%+.3fs %s %s -&gt; %s: %s</title></rect>`,
			x(first), max(2, x(end)-x(first)), color, float64(first)/1000, d.Kind, html.EscapeString(d.Cell.Row), html.EscapeString(d.Cell.Col), d.Got)
	}
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="14" y2="80" stroke="#000" stroke-dasharray="3,2"/><text x="%.1f" y="84" font-size="9">apply</text>`, x(0), x(0), x(0)+2)
	fmt.Fprintf(&b, `<text x="%.1f" y="84" font-size="9" text-anchor="end">%+.1fs</text></svg>`, x(hi), float64(hi)/1000)
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
