package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// control is one control, in the lifecycle every control shares: setup predicts with
// the evaluator which cells a variant of the policies changes at a step and applies it;
// assess requires the cluster to show exactly those changes; restore (the teardown) puts
// the originals back and requires the step's fixture again, whatever setup and assess
// found (a failed control never leaks into the following steps). It is the proof that
// the harness can fail: the predicted cells must be non-empty, and a harness that saw
// nothing would report them as missing.
type control struct {
	h       *Harness
	step    *scenario.Step
	st      *scenario.State
	variant []scenario.Object
	pred    *scenario.Prediction
	fixture *matrix.Matrix
	applied time.Time
}

// Control is the control name: the variant file's policies in place of step i's.
func (h *Harness) Control(name string, i int, variantFile string) *check.Check {
	_, ck := h.newControl(name, i, variantFile)
	return ck
}

func (h *Harness) newControl(name string, i int, variantFile string) (*control, *check.Check) {
	c := &control{h: h, step: &h.Scenario.Steps[i], st: h.States[i]}
	return c, &check.Check{
		Name: name, Kind: "check",
		Setup:  func(ctx context.Context, rs *report.Step) error { return c.setup(ctx, rs, name, variantFile) },
		Assess: c.assess, Teardown: c.restore,
	}
}

// setup predicts what the variant file changes at the step and applies it.
func (c *control) setup(ctx context.Context, rs *report.Step, name, variantFile string) error {
	h := c.h
	var err error
	if c.fixture, err = h.Expected(c.step, c.st); err != nil {
		return err
	}
	variant, err := scenario.LoadObjects(variantFile)
	if err != nil {
		return err
	}
	if c.pred, err = c.st.Predict(h.Scenario, h.Externals(), scenario.Change{Name: name, Apply: variant}, h.ByName()); err != nil {
		return err
	}
	if len(c.pred.Changed) == 0 {
		return fmt.Errorf("variant %s changes no cell of %s: it proves nothing", variantFile, c.step.Name)
	}
	rs.Control = &report.Control{Fixture: c.step.Fixture, Predicted: c.pred.Changed}
	c.variant, c.applied = variant, time.Now()
	return h.Apply(ctx, variant)
}

// assess probes until the cluster shows the variant's matrix (after the UDP conntrack
// settling the variant needs), then requires that exactly the predicted cells differ
// from the unchanged fixture.
func (c *control) assess(ctx context.Context, rs *report.Step) error {
	since, err := c.h.settleUDP(ctx, rs, c.pred.After, c.pred.Changed, c.applied)
	if err != nil {
		return err
	}
	c.h.assessVariant(ctx, rs, c.step, c.pred.After, c.fixture, c.pred.Want, c.pred.Changed, since)
	return nil
}

// restore re-applies the step's own policies in place of the variant (what setup applied,
// if anything) and requires the step's fixture again; its problems are the restore's.
func (c *control) restore(ctx context.Context, rs *report.Step) error {
	if c.variant == nil {
		return nil
	}
	restored := time.Now()
	if err := c.h.restore(ctx, c.st, c.variant); err != nil {
		rs.FailIn("restore", err)
		return nil
	}
	back, _, err := c.h.converge(ctx, c.st, c.fixture, c.pred.Want, restored)
	switch {
	case err != nil:
		rs.FailIn("restore", err)
	case len(back.Leaks) > 0:
		rs.FailIn("restore", fmt.Errorf("cells the restore does not change were seen wrong (round %d):\n%s", back.Rounds, matrix.RenderDiff(c.fixture, back.Leaks)))
		rs.Evidence(c.h.conntrackEvidence(ctx, c.st, back.Leaks)...)
	case !back.Converged:
		rs.FailIn("restore", fmt.Errorf("%d cells still differ from %s (round %d, %s):\n%s", len(back.Mismatches), c.step.Fixture, back.Rounds, confirmOrDeadline(back), matrix.RenderDiff(c.fixture, back.Mismatches)))
		rs.Evidence(c.h.conntrackEvidence(ctx, c.st, back.Mismatches)...)
	default:
		rs.Control.Restored = back.Latency
	}
	return nil
}

// confirmOrDeadline says why a convergence that did not converge ended: its confirming
// round (a round had matched) or its deadline.
func confirmOrDeadline(out *probe.Outcome) string {
	if out.Latency > 0 {
		return fmt.Sprintf("the confirming round, after a round matched at %s", out.Latency.Round(time.Millisecond))
	}
	return "no round matched before the deadline"
}

// assessVariant probes the variant until it shows, then checks that against the unchanged
// fixture the harness flags exactly the predicted cells.
func (h *Harness) assessVariant(ctx context.Context, rs *report.Step, step *scenario.Step, vst *scenario.State, fixture, want *matrix.Matrix, predicted []matrix.Mismatch, applied time.Time) {
	out, plan, err := h.converge(ctx, vst, want, fixture, applied)
	if err != nil {
		rs.Fail(err)
		return
	}
	h.fill(rs, want, out, plan)
	if rs.Failed() {
		rs.Evidence(h.conntrackEvidence(ctx, vst, append(out.Leaks, out.Mismatches...))...)
		return
	}
	seen, err := matrix.Compare(fixture, out.Observed)
	if err != nil {
		rs.Fail(err)
		return
	}
	if !sameCells(seen, predicted) {
		rs.Failf("against %s the harness flagged %d cells, the variant changes %d:\nflagged:\n%s\npredicted:\n%s",
			step.Fixture, len(seen), len(predicted), mismatchList(seen), mismatchList(predicted))
		return
	}
	if rs.Control != nil {
		rs.Control.Enforced = out.Latency
	}
}

// restore re-applies the state's version of each variant object, deleting those it lacks.
func (h *Harness) restore(ctx context.Context, st *scenario.State, variant []scenario.Object) error {
	var back []scenario.Object
	var gone []*unstructured.Unstructured
	for _, v := range variant {
		switch {
		case v.Admin != nil:
			if i := slices.IndexFunc(st.Admin, func(a scenario.Object) bool { return a.Admin.Ref == v.Admin.Ref }); i >= 0 {
				back = append(back, st.Admin[i])
				continue
			}
		case v.Policy != nil:
			if i := slices.IndexFunc(st.Policies, func(p *networkingv1.NetworkPolicy) bool {
				return p.Namespace == v.Policy.Namespace && p.Name == v.Policy.Name
			}); i >= 0 {
				back = append(back, scenario.Object{File: "restore", Policy: st.Policies[i]})
				continue
			}
		default:
			return fmt.Errorf("%s:%d: a control variant may only hold NetworkPolicies and admin policies", v.File, v.Line)
		}
		us, err := Unstructured([]scenario.Object{v})
		if err != nil {
			return err
		}
		gone = append(gone, us...)
	}
	if err := h.Apply(ctx, back); err != nil {
		return err
	}
	return h.Kube.Delete(ctx, gone...)
}

func sameCells(a, b []matrix.Mismatch) bool {
	key := func(m []matrix.Mismatch) []string {
		var out []string
		for _, x := range m {
			out = append(out, x.Row+"|"+x.Col+"|"+x.Got.String())
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

func mismatchList(m []matrix.Mismatch) string {
	var b strings.Builder
	for _, x := range m {
		b.WriteString("  " + x.String() + "\n")
	}
	return b.String()
}
