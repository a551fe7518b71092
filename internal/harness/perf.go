package harness

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
)

// Soak runs n full rounds on the state after step i; any mismatch or probe error fails.
func (h *Harness) Soak(i, n int) *check.Check {
	return check.New(fmt.Sprintf("soak-%d-%s", n, h.Scenario.Steps[i].Name), func(ctx context.Context, rs *report.Step) error {
		return h.soak(ctx, rs, i, n)
	})
}

func (h *Harness) soak(ctx context.Context, rs *report.Step, i, n int) error {
	want, plan, err := h.StateOf(ctx, i)
	if err != nil {
		return err
	}
	soak := &report.Soak{Rounds: n, Cells: len(want.ProbedCells())}
	rs.Soak = soak
	var durations []time.Duration
	for r := range n {
		s := time.Now()
		obs, details := h.Engine.Round(ctx, plan, want, nil)
		durations = append(durations, time.Since(s))
		mm, _ := matrix.Compare(want, obs)
		soak.ProbeErrors += obs.Count(matrix.Error)
		if len(mm) > 0 {
			bad := report.SoakRound{Round: r + 1, Mismatches: mm}
			for _, m := range mm {
				c := matrix.Cell{Row: m.Row, Col: m.Col}
				d := details[c]
				d.Cell, d.Repro = c, h.Engine.Repro(plan, c)
				bad.Results = append(bad.Results, d)
			}
			soak.Bad = append(soak.Bad, bad)
		}
	}
	rs.Rounds = n
	rs.Expected = want
	soak.Median, soak.Worst = report.Median(durations), slices.Max(durations)
	if len(soak.Bad) > 0 || soak.ProbeErrors > 0 {
		return fmt.Errorf("%d of %d soak rounds mismatched, %d probe errors", len(soak.Bad), n, soak.ProbeErrors)
	}
	return nil
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
