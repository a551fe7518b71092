package proof

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/star"
)

// ChurnSpec says how the policy-churn check changes a policy and how densely it probes.
type ChurnSpec struct {
	// Changes is how many times the default-deny is applied or deleted (alternately).
	Changes int
	// Gap is the pause after each change; Interval how often a probes each target; Lead
	// how long the watch runs before the first change, and after the last one's gap
	// (beyond a probe's timeout, for the last probes to end).
	Gap, Interval, Lead time.Duration
}

// DefaultChurn changes the policy 40 times, probing every 20 ms: on eBPF with TCX, where
// a change drops the selected pods' new connections for a few ms, 5 of the 40 changes lost
// a probe when measured (v3.31.7, docs/dataplanes.md "TCX"); at that rate 40 changes miss
// the fault with a chance of 0.875^40, under 1 %.
var DefaultChurn = ChurnSpec{Changes: 40, Gap: 300 * time.Millisecond, Interval: 20 * time.Millisecond, Lead: time.Second}

// Churn proves that changing a policy does not disturb the traffic it does not concern:
// while pod a probes the external host (each family) every spec.Interval with a new
// connection, a default-deny ingress policy that selects a is applied and deleted
// spec.Changes times; a's egress is allowed throughout, so every probe must connect.
func Churn(h *harness.Harness, repo string, spec ChurnSpec) *check.Check {
	var deny []scenario.Object
	var cells []matrix.Cell
	var sess *rollout.Session
	return &check.Check{
		Name: "proof-policy-churn", Kind: "check",
		// Setup: the proof's pods, and the watch of a's egress running for spec.Lead.
		Setup: func(ctx context.Context, _ *report.Step) error {
			var a *corev1.Pod
			var err error
			if deny, a, _, err = deploy(ctx, h, repo); err != nil {
				return err
			}
			plan := probe.Plan{
				Sources: []probe.Source{{ID: "netpol-proof/a", Namespace: "netpol-proof", Pod: a.Name, Container: "star"}},
				Targets: []probe.Target{externalTarget(h, false)},
			}
			if h.Cfg.Dual {
				plan.Targets = append(plan.Targets, externalTarget(h, true))
			}
			for _, t := range plan.Targets {
				cells = append(cells, matrix.Cell{Row: "netpol-proof/a", Col: t.ID})
			}
			w := &rollout.Watcher{Stream: h.Kube, Binary: star.Binary, Interval: spec.Interval, Timeout: h.Cfg.ProbeTimeout, DNSTimeout: h.Cfg.ProbeTimeout, Max: 5 * time.Minute}
			if sess, err = w.Start(ctx, plan, cells); err != nil {
				return err
			}
			harness.Sleep(ctx, spec.Lead) // the watch runs before the first change
			return nil
		},
		// Assess: the changes, then every probe of the watch judged.
		Assess: func(ctx context.Context, rs *report.Step) error {
			us, err := harness.Unstructured(deny)
			if err != nil {
				return err
			}
			var changes []change
			for i := range spec.Changes {
				c := change{apply: i%2 == 0, at: time.Now()}
				if c.apply {
					err = h.Apply(ctx, deny)
				} else {
					err = h.Kube.Delete(ctx, us...)
				}
				if err != nil {
					return fmt.Errorf("change %d: %w", i+1, err)
				}
				changes = append(changes, c)
				harness.Sleep(ctx, spec.Gap)
			}
			if len(changes)%2 == 1 {
				if err := h.Kube.Delete(ctx, us...); err != nil {
					return err
				}
			}
			harness.Sleep(ctx, h.Cfg.ProbeTimeout+spec.Lead) // the last probes end
			obs, events := sess.Stop()
			judgeChurn(rs, h, spec, cells, changes, obs, events)
			return nil
		},
		// Teardown: the watch stopped (a no-op after the assessment's Stop), the pods gone.
		Teardown: func(ctx context.Context, _ *report.Step) error {
			if sess != nil {
				sess.Stop()
			}
			removeProof(ctx, h)
			return nil
		},
	}
}

// change is one apply or delete of the policy, and when its call began.
type change struct {
	apply bool
	at    time.Time
}

func (c change) String() string {
	if c.apply {
		return "apply"
	}
	return "delete"
}

// judgeChurn requires every probe of the watch to have connected, and enough of them to
// have run during the changes for the check to mean something.
func judgeChurn(rs *report.Step, h *harness.Harness, spec ChurnSpec, cells []matrix.Cell, changes []change, obs []matrix.Result, events []rollout.StreamEvent) {
	first, last := changes[0].at, changes[len(changes)-1].at.Add(spec.Gap)
	per := map[matrix.Cell]int{}
	var wrong []string
	lost := map[int]bool{}
	for _, o := range obs {
		if !o.At.Before(first) && o.At.Before(last) {
			per[o.Cell]++
		}
		if o.Verdict == matrix.Allowed {
			continue
		}
		k := nearest(changes, o.At)
		where := "before the first change"
		if k >= 0 {
			lost[k] = true
			where = fmt.Sprintf("%s after change %d (%s)", o.At.Sub(changes[k].at).Round(time.Millisecond), k+1, changes[k])
		}
		wrong = append(wrong, fmt.Sprintf("%s -> %s: %s (%s), probe started %s", o.Row, o.Col, o.Verdict, o.Detail, where))
	}
	for _, ev := range events {
		wrong = append(wrong, fmt.Sprintf("the watch from %s was interrupted: %s", ev.Source, ev.Err))
	}
	want := int(last.Sub(first)/spec.Interval) / 4 // a quarter of the schedule, on this slow machine
	for _, c := range cells {
		if per[c] < want {
			wrong = append(wrong, fmt.Sprintf("%s -> %s: %d probes during the %s of changes, want at least %d (one per %s scheduled): too few to judge", c.Row, c.Col, per[c], last.Sub(first).Round(time.Millisecond), want, spec.Interval))
		}
	}
	rs.Churn = &report.Churn{Policy: "netpol-proof/default-deny", Changes: len(changes), Gap: spec.Gap, Span: last.Sub(first), Total: len(obs)}
	for _, c := range cells {
		rs.Churn.Probes = append(rs.Churn.Probes, report.CellProbes{Col: c.Col, N: per[c]})
	}
	if len(wrong) > 0 {
		rs.Failf("a policy change disturbed traffic it does not concern: %d of %d changes were followed by a lost connection of a (every probe is a new connection, allowed throughout):\n  %s",
			len(lost), len(changes), strings.Join(wrong, "\n  "))
		rs.Evidence(h.TCXWindow()...)
	}
}

// nearest is the index of the last change that began at or before t (-1: none).
func nearest(changes []change, t time.Time) int {
	k := -1
	for i, c := range changes {
		if !c.at.After(t) {
			k = i
		}
	}
	return k
}
