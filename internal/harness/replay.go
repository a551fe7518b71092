package harness

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// ReplayEnforcement times the policy steps again on the end state (step end), on the
// Calico version that runs now: each policy step's policies are deleted (the rounds
// converge to what the evaluator predicts without them), then applied again under the
// enforcement watch, as the step itself was. Two versions replayed on the same cells
// are compared by CompareEnforcement.
func (h *Harness) ReplayEnforcement(end int, name, version string) *check.Check {
	return check.New(name, func(ctx context.Context, rs *report.Step) error {
		return h.replay(ctx, rs, end, version)
	})
}

func (h *Harness) replay(ctx context.Context, rs *report.Step, end int, version string) error {
	rs.Replay = &report.Replay{Version: version}
	st := h.States[end]
	fixture, err := h.Expected(&h.Scenario.Steps[end], st)
	if err != nil {
		return err
	}
	for i := 1; i <= end; i++ {
		// The admin steps are not replayed: deleting cluster-scoped policies of one form is
		// the upgrade's admin loss check, not a replay.
		if !h.policyStep(i) || h.Scenario.Steps[i].Admin != nil {
			continue
		}
		step := &h.Scenario.Steps[i]
		sub := h.replayStep(ctx, st, fixture, step)
		rs.Replay.Steps = append(rs.Replay.Steps, report.ReplayedStep{Step: step.Name, Enforcement: sub.Enforcement, Failed: sub.Failed()})
		if sub.Failed() {
			// The wrong cells with their repro commands, which the rounds recorded.
			rs.FailFrom(step.Name, sub)
			rs.Evidence(strings.Split(strings.TrimSpace(mismatchList(sub.Mismatches)+sub.Repros()), "\n")...)
			break // the end state is not known to hold any more
		}
	}
	return nil
}

// replayStep deletes one policy step's policies and applies them again (see
// ReplayEnforcement); its report carries the re-apply's enforcement. A failure leaves the
// step's policies applied again when it can.
func (h *Harness) replayStep(ctx context.Context, st *scenario.State, fixture *matrix.Matrix, step *scenario.Step) *report.Step {
	sub := &report.Step{Name: step.Name, Kind: "check"}
	fail := func(what string, err error) *report.Step {
		sub.FailIn(what, err)
		return sub
	}
	var refs []string
	for _, o := range step.Objects {
		refs = append(refs, o.Policy.Namespace+"/"+o.Policy.Name)
	}
	pred, err := st.Predict(h.Scenario, h.Externals(), scenario.Change{Name: "replay-" + step.Name, Delete: refs}, h.ByName())
	if err != nil {
		return fail("predict", err)
	}
	if len(pred.Changed) == 0 {
		return sub // later steps' policies decide every cell it did: nothing to time
	}
	us, err := Unstructured(step.Objects)
	if err != nil {
		return fail("decode", err)
	}
	// Without the step's policies: the evaluator's matrix, reached.
	deleted := time.Now()
	if err := h.Kube.Delete(ctx, us...); err != nil {
		return fail("delete", err)
	}
	since, err := h.settleUDP(ctx, sub, pred.After, pred.Changed, deleted)
	if err != nil {
		return fail("after the deletion", err)
	}
	out, plan, err := h.converge(ctx, pred.After, pred.Want, fixture, since)
	if err != nil {
		return fail("after the deletion", err)
	}
	h.fill(sub, pred.Want, out, plan)
	if sub.Failed() {
		sub.Evidence(h.conntrackEvidence(ctx, pred.After, sub.Mismatches)...)
		if err := h.Apply(ctx, step.Objects); err != nil {
			return fail("apply again", err)
		}
		return sub
	}
	// Applied again, under the watch: every changed cell back to the end state's verdict.
	var changes []rollout.Change
	back := make([]matrix.Mismatch, 0, len(pred.Changed))
	for _, m := range pred.Changed {
		changes = append(changes, rollout.Change{Cell: matrix.Cell{Row: m.Row, Col: m.Col}, From: m.Got, To: m.Want})
		back = append(back, matrix.Mismatch{Row: m.Row, Col: m.Col, Want: m.Got, Got: m.Want})
	}
	if plan, err = h.Plan(ctx, st); err != nil {
		return fail("plan", err)
	}
	ew, err := h.watchChanges(ctx, plan, changes)
	if err != nil {
		return fail("watch", err)
	}
	applied, err := h.applyWatched(ctx, step.Objects, ew)
	if err != nil {
		return fail("apply again", err)
	}
	if since, err = h.settleUDP(ctx, sub, st, back, applied); err != nil {
		return fail("after the apply", err)
	}
	if out, plan, err = h.converge(ctx, st, fixture, pred.Want, since); err != nil {
		return fail("after the apply", err)
	}
	h.fill(sub, fixture, out, plan)
	if sub.Failed() {
		sub.Evidence(h.conntrackEvidence(ctx, st, sub.Mismatches)...)
	}
	if ew != nil {
		h.finishEnforcement(ctx, sub, step.Objects, ew)
	}
	return sub
}

// SlowdownBudget is how much slower B may enforce than A: B's p95 over the replayed cells
// fails only when it exceeds both Factor times A's and A's plus Min.
type SlowdownBudget struct {
	Factor float64
	Min    time.Duration
}

// CompareEnforcement judges B's replay against A's on the same cells: nil when B's p95 is
// within the budget (or either has no settled cell, which the replays report themselves).
func CompareEnforcement(a, b *report.Replay, budget SlowdownBudget) error {
	pa, pb := a.P95(), b.P95()
	if pa.N == 0 || pb.N == 0 {
		return nil
	}
	limit := max(time.Duration(float64(pa.P95)*budget.Factor), pa.P95+budget.Min)
	if pb.P95 <= limit {
		return nil
	}
	return fmt.Errorf("calico %s enforces slower than %s: p95 over the replayed policy steps' %d cells %s against %s (%d cells); the budget allows %s (%.1fx and at least %s more)",
		b.Version, a.Version, pb.N, ms(pb.P95), ms(pa.P95), pa.N, ms(limit), budget.Factor, budget.Min)
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
