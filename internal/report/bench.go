package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
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

// Scale is the scale benchmark's result: per size, the session rounds' time (Rounds
// each) and the harness's cost.
type Scale struct {
	Rounds int          `json:"rounds"`
	Points []BenchPoint `json:"points"`
}

func (s *Scale) lines() []string {
	return append([]string{fmt.Sprintf("%d rounds per size through the probe sessions; table (also bench.svg):", s.Rounds)}, tableLines(BenchTable(s.Points))...)
}

// EnforceBench is the enforcement benchmark's result: Sources per policy, on one Calico
// and dataplane, per count of policies.
type EnforceBench struct {
	Sources   int            `json:"sources"`
	Calico    string         `json:"calico"`
	Dataplane string         `json:"dataplane"`
	Points    []EnforcePoint `json:"points"`
}

func (e *EnforceBench) lines() []string {
	return append([]string{fmt.Sprintf("policies applied one after another, %d sources, each cell timed from its own policy's apply (probes every 100 ms); calico %s, dataplane %s:", e.Sources, e.Calico, e.Dataplane)}, tableLines(EnforceTable(e.Points))...)
}

func tableLines(t string) []string { return strings.Split(strings.TrimRight(t, "\n"), "\n") }

// Delivery is the per-source vs per-cell measurement on one state: each way's round
// times (the sessions, one exec per source, one exec per cell with Workers at a time,
// and upstream's way with UpstreamWorkers), the slowest probe of each session round
// (the floor), and the baselines' wrong cells.
type Delivery struct {
	Sources, Targets, Cells, Rounds int
	ProbeTimeout                    time.Duration
	Session, PerSource, PerCell     []time.Duration
	Upstream, Slowest               []time.Duration
	Workers, UpstreamWorkers        int
	BaselineWrong                   []BaselineWrong
}

// BaselineWrong is a cell a baseline way saw wrong.
type BaselineWrong struct {
	Way      string
	Mismatch matrix.Mismatch
	Detail   string
}

func (d *Delivery) lines() []string {
	var out []string
	for _, w := range d.BaselineWrong {
		out = append(out, fmt.Sprintf("%s baseline: %s: %s", w.Way, w.Mismatch, w.Detail))
	}
	if len(d.Session) == 0 || len(d.PerSource) == 0 || len(d.PerCell) == 0 || len(d.Upstream) == 0 {
		return out
	}
	m := Median(d.Session)
	way := func(name string, ts []time.Duration) string {
		return fmt.Sprintf("%s: median %s, worst %s: %.1fx the session round", name, ms(Median(ts)), ms(slices.Max(ts)), Median(ts).Seconds()/m.Seconds())
	}
	return append(out,
		fmt.Sprintf("full matrix of %d sources x %d targets (%d cells), probe timeout %s, %d rounds each way", d.Sources, d.Targets, d.Cells, d.ProbeTimeout, d.Rounds),
		fmt.Sprintf("sessions (one long-lived exec per source): median %s, worst %s; the slowest probe of each round (its floor): median %s, so %s above it",
			ms(m), ms(slices.Max(d.Session)), ms(Median(d.Slowest)), ms(m-Median(d.Slowest))),
		way("one exec per source per round", d.PerSource),
		way(fmt.Sprintf("one exec per cell (%d at a time)", d.Workers), d.PerCell),
		way(fmt.Sprintf("one exec per cell, %d at a time (the upstream NetworkPolicy e2e's way)", d.UpstreamWorkers), d.Upstream),
		fmt.Sprintf("baselines' wrong cells: %d", len(d.BaselineWrong)))
}
