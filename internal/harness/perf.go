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

// Soak runs n full rounds on the state after step i; any mismatch or probe error fails.
func (h *Harness) Soak(ctx context.Context, i, n int) *report.Step {
	step := &h.Scenario.Steps[i]
	rs := &report.Step{Name: fmt.Sprintf("soak-%d-%s", n, step.Name), Kind: "check"}
	t0 := time.Now()
	defer func() { rs.Duration = time.Since(t0) }()
	want, plan, err := h.StateOf(ctx, i)
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
		n, len(want.ProbedCells()), bad, errorsSeen, report.Median(durations).Round(time.Millisecond), slices.Max(durations).Round(time.Millisecond)))
	if bad > 0 || errorsSeen > 0 {
		rs.Failure = fmt.Sprintf("%d of %d soak rounds mismatched, %d probe errors", bad, n, errorsSeen)
	}
	return rs
}

// StateOf returns the expected matrix of step i (its fixture, checked against the
// evaluator) and the probe plan of the pods running now.
func (h *Harness) StateOf(ctx context.Context, i int) (*matrix.Matrix, probe.Plan, error) {
	want, err := h.Expected(&h.Scenario.Steps[i], h.States[i])
	if err != nil {
		return nil, probe.Plan{}, err
	}
	plan, err := h.Plan(ctx, h.States[i])
	return want, plan, err
}
