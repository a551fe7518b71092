package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// Enforcement is the enforcement-latency benchmark: `sources` star pods and
// max(counts) target services behind a default deny; for each N of counts, policies
// allow-0 .. allow-(N-1) (allow-k admits the sources to target t k) are applied one after
// another under the 100 ms enforcement watch of every cell they open, then deleted, and
// the matrix must be back to all blocked before the next N.
func Enforcement(ctx context.Context, h *harness.Harness, sources int, counts []int) ([]report.EnforcePoint, error) {
	defer func() { _ = h.Kube.DeleteNamespaces(context.WithoutCancel(ctx), 3*time.Minute, Namespace) }()
	targets := slices.Max(counts)
	plan, closed, err := up(ctx, h, objects(sources, targets, false), sources, targets)
	if err != nil {
		return nil, err
	}
	if err := match(ctx, h, plan, closed, nil, "bench: the default deny"); err != nil {
		return nil, err
	}
	var out []report.EnforcePoint
	for _, n := range counts {
		p, err := policies(ctx, h, plan, closed, n)
		if err != nil {
			return out, fmt.Errorf("bench %d policies: %w", n, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// policies applies n allow policies one after another under the watch, then deletes
// them and waits for the default deny again.
func policies(ctx context.Context, h *harness.Harness, plan probe.Plan, closed *matrix.Matrix, n int) (report.EnforcePoint, error) {
	changesOf := func(k int) []rollout.Change {
		var cs []rollout.Change
		for _, s := range plan.Sources {
			cs = append(cs, rollout.Change{Cell: matrix.Cell{Row: s.ID, Col: fmt.Sprintf("t%d:8080", k)}, From: matrix.Blocked, To: matrix.Allowed})
		}
		return cs
	}
	var all []rollout.Change
	var pols []scenario.Object
	for k := range n {
		all = append(all, changesOf(k)...)
		pols = append(pols, allow(fmt.Sprintf("allow-%d", k), []string{fmt.Sprintf("t%d", k)}))
	}
	var cells []matrix.Cell
	for _, c := range all {
		cells = append(cells, c.Cell)
	}
	sess, spec, err := h.StartEnforcementWatch(ctx, plan, cells)
	if err != nil {
		return report.EnforcePoint{}, err
	}
	started, applied := make([]time.Time, n), make([]time.Time, n)
	for k := range n {
		started[k] = time.Now()
		if err := h.Apply(ctx, pols[k:k+1]); err != nil {
			sess.Stop()
			return report.EnforcePoint{}, err
		}
		applied[k] = time.Now()
	}
	// Wait until every cell showed allowed for the settle time, as a step's watch does.
	for deadline := time.Now().Add(h.Cfg.ConvergeDeadline + spec.MaxTail); time.Now().Before(deadline) && !rollout.SettledFor(sess.Observations(), all, spec.Settle); {
		time.Sleep(spec.Interval)
	}
	obs, events := sess.Stop()
	pt := report.EnforcePoint{Policies: n, All: &report.Enforcement{Interval: spec.Interval, Applied: applied[0]}}
	var wrong []string
	for k := range n {
		cells := rollout.Enforcement(obs, changesOf(k), started[k], applied[k])
		pt.All.Cells = append(pt.All.Cells, cells...)
		if k == n-1 {
			pt.Last = &report.Enforcement{Interval: spec.Interval, Applied: applied[k], Cells: cells}
		}
		for _, c := range cells {
			if !c.Settled || len(c.Wrong) > 0 {
				wrong = append(wrong, fmt.Sprintf("%s -> %s: settled %v %s", c.Cell.Row, c.Cell.Col, c.Settled, strings.Join(c.Wrong, "; ")))
			}
		}
	}
	for _, e := range events {
		wrong = append(wrong, "watch from "+e.Source+" interrupted: "+e.Err)
	}
	if len(wrong) > 0 {
		return pt, fmt.Errorf("the enforcement watch saw what cannot happen:\n  %s", strings.Join(wrong, "\n  "))
	}
	// Back to the default deny before the next size.
	us, err := harness.Unstructured(pols)
	if err != nil {
		return pt, err
	}
	if err := h.Kube.Delete(ctx, us...); err != nil {
		return pt, err
	}
	open := closed.Clone()
	for _, c := range all {
		_ = open.Set(c.Cell.Row, c.Cell.Col, matrix.Allowed)
	}
	return pt, match(ctx, h, plan, closed, open, fmt.Sprintf("the default deny after deleting the %d policies", n))
}
