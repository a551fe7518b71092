package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/report"
)

// Perf measures full matrix rounds on the state after step i three ways, in the same run:
// through the probe sessions (one long-lived exec per source, what every check uses), one
// exec per source per round, and one exec per cell (the upstream NetworkPolicy e2e's way)
// at the per-source parallelism. It records numbers; it fails only if a session round does
// not match the fixture (the other ways' own mismatches are reported: they are baselines).
func Perf(ctx context.Context, h *harness.Harness, i, rounds int) *report.Step {
	step := &h.Scenario.Steps[i]
	return h.Check("perf-"+step.Name, func(rs *report.Step) error {
		want, plan, err := h.StateOf(ctx, i)
		if err != nil {
			return err
		}
		var session, perSource, perCell, upstream []time.Duration
		var slowest []time.Duration // the longest probe of each session round: its floor
		baselineWrong := 0
		timed := func(list *[]time.Duration, round func() (*matrix.Matrix, map[matrix.Cell]matrix.Result)) (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
			t0 := time.Now()
			obs, details := round()
			*list = append(*list, time.Since(t0))
			return obs, details
		}
		for range rounds {
			obs, details := timed(&session, func() (*matrix.Matrix, map[matrix.Cell]matrix.Result) { return h.Engine.Round(ctx, plan, want, nil) })
			if mm, _ := matrix.Compare(want, obs); len(mm) > 0 {
				return fmt.Errorf("a session round differs from %s:\n%s", step.Fixture, matrix.RenderDiff(want, mm))
			}
			var longest int64
			for _, d := range details {
				longest = max(longest, d.Millis)
			}
			slowest = append(slowest, time.Duration(longest)*time.Millisecond)
			for _, way := range []struct {
				list  *[]time.Duration
				name  string
				round func() (*matrix.Matrix, map[matrix.Cell]matrix.Result)
			}{
				{&perSource, "one exec per source", func() (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
					return h.Engine.RoundPerSource(ctx, plan, want)
				}},
				{&perCell, "one exec per cell", func() (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
					return h.Engine.RoundPerCell(ctx, plan, want, len(plan.Sources))
				}},
				// The upstream NetworkPolicy e2e's way: one exec per cell, 3 workers.
				{&upstream, "upstream's way", func() (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
					return h.Engine.RoundPerCell(ctx, plan, want, upstreamWorkers)
				}},
			} {
				obs, details := timed(way.list, way.round)
				mm, _ := matrix.Compare(want, obs)
				baselineWrong += len(mm)
				for _, m := range mm {
					rs.Notes = append(rs.Notes, fmt.Sprintf("%s baseline: %s: %s", way.name, m, details[matrix.Cell{Row: m.Row, Col: m.Col}].Detail))
				}
			}
		}
		ms := report.Median(session)
		rs.Notes = append(rs.Notes,
			fmt.Sprintf("full matrix of %d sources x %d targets (%d cells), probe timeout %s, %d rounds each way", len(want.Rows), len(want.Cols), len(want.ProbedCells()), h.Cfg.ProbeTimeout, rounds),
			fmt.Sprintf("sessions (one long-lived exec per source): median %s, worst %s; the slowest probe of each round (its floor): median %s, so %s above it",
				ms.Round(time.Millisecond), slices.Max(session).Round(time.Millisecond), report.Median(slowest).Round(time.Millisecond), (ms-report.Median(slowest)).Round(time.Millisecond)),
			fmt.Sprintf("one exec per source per round: median %s, worst %s: %.1fx the session round", report.Median(perSource).Round(time.Millisecond), slices.Max(perSource).Round(time.Millisecond), report.Median(perSource).Seconds()/ms.Seconds()),
			fmt.Sprintf("one exec per cell (%d at a time): median %s, worst %s: %.1fx the session round", len(plan.Sources), report.Median(perCell).Round(time.Millisecond), slices.Max(perCell).Round(time.Millisecond), report.Median(perCell).Seconds()/ms.Seconds()),
			fmt.Sprintf("one exec per cell, %d at a time (the upstream NetworkPolicy e2e's way): median %s, worst %s: %.1fx the session round", upstreamWorkers, report.Median(upstream).Round(time.Millisecond), slices.Max(upstream).Round(time.Millisecond), report.Median(upstream).Seconds()/ms.Seconds()),
			fmt.Sprintf("baselines' wrong cells: %d", baselineWrong))
		return nil
	})
}

// upstreamWorkers is the upstream NetworkPolicy e2e's probe parallelism.
const upstreamWorkers = 3
