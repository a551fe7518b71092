package report

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// BenchPoint is one size of the scale benchmark.
type BenchPoint struct {
	Sources, Targets, Cells int
	Median, Worst           time.Duration
	// CPU is the harness process's user+system CPU over the timed rounds; MaxRSS its peak
	// resident memory so far (KiB).
	CPU    time.Duration
	MaxRSS int64
}

// BenchTable renders the points as text.
func BenchTable(points []BenchPoint) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %-8s %-6s %-10s %-10s %-10s %s\n", "sources", "targets", "cells", "median", "worst", "cpu", "maxrss")
	for _, p := range points {
		fmt.Fprintf(&b, "%-8d %-8d %-6d %-10s %-10s %-10s %d MiB\n", p.Sources, p.Targets, p.Cells,
			p.Median.Round(time.Millisecond), p.Worst.Round(time.Millisecond), p.CPU.Round(time.Millisecond), p.MaxRSS/1024)
	}
	return b.String()
}

// BenchSVG plots round time against the number of sources: median as a line, worst as dots.
func BenchSVG(points []BenchPoint) string {
	const w, hgt, pad = 480.0, 300.0, 40.0
	maxN, maxT := 1.0, 0.001
	for _, p := range points {
		maxN = max(maxN, float64(p.Sources))
		maxT = max(maxT, p.Worst.Seconds())
	}
	x := func(n int) float64 { return pad + float64(n)/maxN*(w-2*pad) }
	y := func(d time.Duration) float64 { return hgt - pad - d.Seconds()/maxT*(hgt-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`, w, hgt)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/><line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`,
		pad, hgt-pad, w-pad, hgt-pad, pad, pad, pad, hgt-pad)
	targets := 0
	if len(points) > 0 {
		targets = points[0].Targets
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">sources (x %d targets)</text><text x="4" y="%.0f">round, s (max %.2f)</text>`, w/2-50, hgt-8, targets, pad-10, maxT)
	var pts []string
	for _, p := range points {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.Sources), y(p.Median)))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="red"/><text x="%.1f" y="%.0f">%d</text>`, x(p.Sources), y(p.Worst), x(p.Sources)-6, hgt-pad+14, p.Sources)
	}
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="blue" stroke-width="2"/>`, strings.Join(pts, " "))
	b.WriteString(`<text x="300" y="20" fill="blue">median</text><text x="360" y="20" fill="red">worst</text></svg>`)
	return b.String()
}

// EnforcePoint is one size of the enforcement benchmark: N policies applied one after
// another (each apply as soon as the previous call returned), every cell they open timed
// from its own policy's apply. Last is the last policy's cells alone: its latency with
// N-1 policies already on the nodes.
type EnforcePoint struct {
	Policies  int
	All, Last *Enforcement
}

// EnforceTable renders the points: per N, p50/p95/max over all cells and over the last
// policy's cells.
func EnforceTable(points []EnforcePoint) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-9s %-6s %-26s %s\n", "policies", "cells", "all: p50/p95/max", "last policy: p50/p95/max")
	q := func(e *Enforcement) string {
		if e == nil {
			return "-"
		}
		p50, p95, worst, _ := e.Quantiles()
		return ms(p50) + "/" + ms(p95) + "/" + ms(worst)
	}
	for _, p := range points {
		fmt.Fprintf(&b, "%-9d %-6d %-26s %s\n", p.Policies, len(p.All.Cells), q(p.All), q(p.Last))
	}
	return b.String()
}

// Median is the middle of d (the upper one of an even count).
func Median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
