package report

import (
	"fmt"
	"html"
	"strings"
	"time"
)

// HTML renders a self-contained page (no external assets): per step the expected and
// observed grids, wrong cells highlighted, and the enforcement latency as bars.
func (r *Run) HTML() string {
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>netpol e2e report</title><style>
body{font-family:sans-serif;margin:20px;color:#222}table.m{border-collapse:collapse;margin:4px 0 12px}
table.m td,table.m th{border:1px solid #ccc;padding:2px 6px;font-family:monospace;text-align:center}
td.a{background:#c8f0c8}td.b{background:#f4c4c4}td.n{background:#eee}td.w{outline:3px solid #d00;font-weight:bold}
.pass{color:#080}.fail{color:#c00}.bar{background:#58a;height:12px;display:inline-block}pre{background:#f6f6f6;padding:6px}
</style></head><body>`)
	fmt.Fprintf(&b, "<h1>%s</h1><p>%s &rarr; %s (%s)</p>", html.EscapeString(r.Suite), r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	b.WriteString("<h2>Environment</h2><ul>")
	for k, v := range r.Environment {
		fmt.Fprintf(&b, "<li>%s: %s</li>", html.EscapeString(k), html.EscapeString(v))
	}
	for k, v := range r.Timings {
		fmt.Fprintf(&b, "<li>%s: %s</li>", html.EscapeString(k), html.EscapeString(v))
	}
	b.WriteString("</ul><h2>Enforcement latency</h2><table>")
	var maxLat time.Duration
	for _, s := range r.Steps {
		maxLat = max(maxLat, s.Latency)
	}
	for _, s := range r.Steps {
		if s.Kind != "step" || s.Expected == "" {
			continue
		}
		w := 0
		if maxLat > 0 {
			w = int(300 * s.Latency / maxLat)
		}
		fmt.Fprintf(&b, `<tr><td><a href="#%s">%s</a></td><td><span class="bar" style="width:%dpx"></span> %s</td></tr>`,
			s.Name, s.Name, w, s.Latency.Round(time.Millisecond))
	}
	b.WriteString("</table><h2>Steps</h2>")
	for _, s := range r.Steps {
		cls, res := "pass", "PASS"
		if s.Failure != "" {
			cls, res = "fail", "FAIL"
		}
		fmt.Fprintf(&b, `<h3 id="%s"><span class="%s">%s</span> %s</h3>`, s.Name, cls, res, html.EscapeString(s.Name))
		if len(s.Cells) > 0 {
			b.WriteString(grid(s.Cells))
		}
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "<p>%s</p>", html.EscapeString(n))
		}
		if s.Failure != "" {
			fmt.Fprintf(&b, "<pre>%s</pre>", html.EscapeString(s.Text()))
		}
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// grid draws observed verdicts; a wrong cell shows expected>observed with a red frame.
func grid(cells []Cell) string {
	var rows, cols []string
	seen := map[string]bool{}
	idx := map[[2]string]Cell{}
	for _, c := range cells {
		if !seen["r"+c.From] {
			seen["r"+c.From] = true
			rows = append(rows, c.From)
		}
		if !seen["c"+c.To] {
			seen["c"+c.To] = true
			cols = append(cols, c.To)
		}
		idx[[2]string{c.From, c.To}] = c
	}
	var b strings.Builder
	b.WriteString(`<table class="m"><tr><th>from \ to</th>`)
	for _, c := range cols {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(c))
	}
	b.WriteString("</tr>")
	for _, r := range rows {
		fmt.Fprintf(&b, "<tr><th>%s</th>", html.EscapeString(r))
		for _, col := range cols {
			c, ok := idx[[2]string{r, col}]
			if !ok {
				b.WriteString(`<td class="n">-</td>`)
				continue
			}
			class := "b"
			if c.Observed == "allowed" {
				class = "a"
			}
			text := c.Observed
			if c.Expected != c.Observed {
				class += " w"
				text = c.Expected + " &gt; " + c.Observed
			}
			fmt.Fprintf(&b, `<td class="%s" title="%s">%s</td>`, class, html.EscapeString(c.Detail), text)
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	return b.String()
}
