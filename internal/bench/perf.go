package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/report"
)

// Perf measures full matrix rounds on the state after step i three ways, in the same run:
// through the probe sessions (one long-lived exec per source, what every check uses), one
// exec per source per round, and one exec per cell (the upstream NetworkPolicy e2e's way)
// at the per-source parallelism. It records numbers; it fails only if a session round does
// not match the fixture (the other ways' own mismatches are reported: they are baselines).
func Perf(h *harness.Harness, i, rounds int) *check.Check {
	step := &h.Scenario.Steps[i]
	return check.New("perf-"+step.Name, func(ctx context.Context, rs *report.Step) error {
		want, plan, err := h.StateOf(ctx, i)
		if err != nil {
			return err
		}
		d := &report.Delivery{
			Sources: len(want.Rows), Targets: len(want.Cols), Cells: len(want.ProbedCells()), Rounds: rounds,
			ProbeTimeout: h.Cfg.ProbeTimeout, Workers: len(plan.Sources), UpstreamWorkers: upstreamWorkers,
		}
		timed := func(list *[]time.Duration, round func() (*matrix.Matrix, map[matrix.Cell]matrix.Result)) (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
			t0 := time.Now()
			obs, details := round()
			*list = append(*list, time.Since(t0))
			return obs, details
		}
		for range rounds {
			obs, details := timed(&d.Session, func() (*matrix.Matrix, map[matrix.Cell]matrix.Result) { return h.Engine.Round(ctx, plan, want, nil) })
			if mm, _ := matrix.Compare(want, obs); len(mm) > 0 {
				return fmt.Errorf("a session round differs from %s:\n%s", step.Fixture, matrix.RenderDiff(want, mm))
			}
			var longest int64
			for _, r := range details {
				longest = max(longest, r.Millis)
			}
			d.Slowest = append(d.Slowest, time.Duration(longest)*time.Millisecond)
			for _, way := range []struct {
				list  *[]time.Duration
				name  string
				round func() (*matrix.Matrix, map[matrix.Cell]matrix.Result)
			}{
				{&d.PerSource, "one exec per source", func() (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
					return h.Engine.RoundPerSource(ctx, plan, want)
				}},
				{&d.PerCell, "one exec per cell", func() (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
					return h.Engine.RoundPerCell(ctx, plan, want, len(plan.Sources))
				}},
				// The upstream NetworkPolicy e2e's way: one exec per cell, 3 workers.
				{&d.Upstream, "upstream's way", func() (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
					return h.Engine.RoundPerCell(ctx, plan, want, upstreamWorkers)
				}},
			} {
				obs, details := timed(way.list, way.round)
				mm, _ := matrix.Compare(want, obs)
				for _, m := range mm {
					d.BaselineWrong = append(d.BaselineWrong, report.BaselineWrong{Way: way.name, Mismatch: m, Detail: details[matrix.Cell{Row: m.Row, Col: m.Col}].Detail})
				}
			}
		}
		rs.Delivery = d
		return nil
	})
}

// upstreamWorkers is the upstream NetworkPolicy e2e's probe parallelism.
const upstreamWorkers = 3
