package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
)

// Perf measures, on the state after step i, full matrix rounds (one exec per source)
// against the naive one exec per cell at the same parallelism, in the same run. It records
// numbers; it fails only if a one-exec-per-source round does not match the fixture (the
// naive rounds' own mismatches are reported, not failed: they are the baseline).
func (h *Harness) Perf(ctx context.Context, i, rounds int) *report.Step {
	step := &h.Scenario.Steps[i]
	rs := &report.Step{Name: "perf-" + step.Name, Kind: "check"}
	t0 := time.Now()
	defer func() { rs.Duration = time.Since(t0) }()
	want, plan, err := h.stateOf(ctx, i)
	if err != nil {
		rs.Failure = err.Error()
		return rs
	}
	var perSource, perCell []time.Duration
	naiveWrong := 0
	for range rounds {
		s := time.Now()
		obs, _ := h.Engine.Round(ctx, plan, want, nil)
		perSource = append(perSource, time.Since(s))
		if mm, _ := matrix.Compare(want, obs); len(mm) > 0 {
			rs.Failure = fmt.Sprintf("a one-exec-per-source round differs from %s:\n%s", step.Fixture, matrix.RenderDiff(want, mm))
			return rs
		}
		s = time.Now()
		obs, details := h.Engine.RoundPerCell(ctx, plan, want, len(plan.Sources))
		perCell = append(perCell, time.Since(s))
		mm, _ := matrix.Compare(want, obs)
		naiveWrong += len(mm)
		for _, m := range mm {
			rs.Notes = append(rs.Notes, fmt.Sprintf("one-exec-per-cell baseline: %s: %s", m, details[matrix.Cell{Row: m.Row, Col: m.Col}].Detail))
		}
	}
	ms, mc := median(perSource), median(perCell)
	rs.Notes = append(rs.Notes,
		fmt.Sprintf("full matrix of %d sources x %d targets (%d cells), probe timeout %s, %d rounds each way", len(want.Rows), len(want.Cols), len(want.ProbedCells()), h.Cfg.ProbeTimeout, rounds),
		fmt.Sprintf("one exec per source: median %s, worst %s", ms.Round(time.Millisecond), slices.Max(perSource).Round(time.Millisecond)),
		fmt.Sprintf("one exec per cell (%d at a time):   median %s, worst %s, %d wrong cells", len(plan.Sources), mc.Round(time.Millisecond), slices.Max(perCell).Round(time.Millisecond), naiveWrong),
		fmt.Sprintf("ratio (per cell / per source, medians): %.1fx", mc.Seconds()/ms.Seconds()))
	return rs
}

// Soak runs n full rounds on the state after step i; any mismatch or probe error fails.
func (h *Harness) Soak(ctx context.Context, i, n int) *report.Step {
	step := &h.Scenario.Steps[i]
	rs := &report.Step{Name: fmt.Sprintf("soak-%d-%s", n, step.Name), Kind: "check"}
	t0 := time.Now()
	defer func() { rs.Duration = time.Since(t0) }()
	want, plan, err := h.stateOf(ctx, i)
	if err != nil {
		rs.Failure = err.Error()
		return rs
	}
	bad, errorsSeen := 0, 0
	var durations []time.Duration
	for r := range n {
		s := time.Now()
		obs, details := h.Engine.Round(ctx, plan, want, nil)
		durations = append(durations, time.Since(s))
		mm, _ := matrix.Compare(want, obs)
		errorsSeen += obs.Count(matrix.Error)
		if len(mm) > 0 {
			bad++
			var why []string
			for _, m := range mm {
				d := details[matrix.Cell{Row: m.Row, Col: m.Col}]
				why = append(why, fmt.Sprintf("%s -> %s: %s after %dms (%s); repro: %s", m.Row, m.Col, d.Verdict, d.Millis, d.Detail, h.Engine.Repro(plan, matrix.Cell{Row: m.Row, Col: m.Col})))
			}
			rs.Notes = append(rs.Notes, fmt.Sprintf("round %d: %d cells differ:\n%s%s", r+1, len(mm), matrix.RenderDiff(want, mm), strings.Join(why, "\n")))
		}
	}
	rs.Rounds = n
	rs.Notes = append(rs.Notes, fmt.Sprintf("%d rounds of %d cells: %d rounds with mismatches, %d probe errors; round time median %s, worst %s",
		n, len(want.ProbedCells()), bad, errorsSeen, median(durations).Round(time.Millisecond), slices.Max(durations).Round(time.Millisecond)))
	if bad > 0 || errorsSeen > 0 {
		rs.Failure = fmt.Sprintf("%d of %d soak rounds mismatched, %d probe errors", bad, n, errorsSeen)
	}
	return rs
}

// stateOf returns the expected matrix of step i (its fixture, checked against the
// evaluator) and the probe plan of the pods running now.
func (h *Harness) stateOf(ctx context.Context, i int) (*matrix.Matrix, probe.Plan, error) {
	want, err := h.expected(&h.Scenario.Steps[i], h.States[i])
	if err != nil {
		return nil, probe.Plan{}, err
	}
	plan, err := h.Plan(ctx, h.States[i])
	return want, plan, err
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
