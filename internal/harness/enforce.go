package harness

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/star"
)

// EnforceSpec is the enforcement watch of a policy step: every cell the step changes is
// probed on a fixed schedule (a probe starts every Interval whatever the earlier ones
// still wait for) from Lead before the apply until each showed its new verdict for
// Settle (at most MaxTail after the step's rounds end), so a cell's latency is known to
// one interval. The rounds of Converge go on meanwhile and judge every cell, changed or
// not, as before. Zero fields take DefaultEnforce's.
type EnforceSpec struct {
	Interval, Settle, MaxTail, Lead time.Duration
}

// DefaultEnforce is 100 ms resolution; 1 s of the new verdict (10 probes) ends the watch.
var DefaultEnforce = EnforceSpec{Interval: 100 * time.Millisecond, Settle: time.Second, MaxTail: 10 * time.Second, Lead: 500 * time.Millisecond}

func (e EnforceSpec) orDefault() EnforceSpec {
	d := DefaultEnforce
	if e.Interval > 0 {
		d.Interval = e.Interval
	}
	if e.Settle > 0 {
		d.Settle = e.Settle
	}
	if e.MaxTail > 0 {
		d.MaxTail = e.MaxTail
	}
	if e.Lead > 0 {
		d.Lead = e.Lead
	}
	return d
}

// enforcementWatch is a running watch of a policy step's changed cells.
type enforcementWatch struct {
	spec             EnforceSpec
	changes          []rollout.Change
	untimed          int // UDP cells the change closes (see watchChanges)
	sess             *rollout.Session
	started, applied time.Time
}

// policyStep reports whether step i only applies policies (NetworkPolicies or admin
// policies) to pods that are there (and has a fixture before it): its cells keep their
// pods, so each can be watched from before the apply.
func (h *Harness) policyStep(i int) bool {
	step := &h.Scenario.Steps[i]
	if i == 0 || step.Fixture == "" || h.Scenario.Steps[i-1].Fixture == "" || len(step.Objects) == 0 || len(step.DeleteNamespaces) > 0 {
		return false
	}
	for _, o := range step.Objects {
		if o.Policy == nil && o.Admin == nil {
			return false
		}
	}
	return true
}

// startEnforcementWatch starts watching the cells policy step i changes (nil when it is
// no policy step or changes none), and lets it probe the old verdicts for a moment.
func (h *Harness) startEnforcementWatch(ctx context.Context, i int) (*enforcementWatch, error) {
	if !h.policyStep(i) {
		return nil, nil
	}
	prev, err := h.Scenario.LoadFixture(&h.Scenario.Steps[i-1], h.States[i-1])
	if err != nil {
		return nil, err
	}
	want, err := h.Expected(&h.Scenario.Steps[i], h.States[i])
	if err != nil {
		return nil, err
	}
	prev = h.families(prev)
	var changes []rollout.Change
	for _, c := range want.ProbedCells() {
		w, _ := want.Get(c.Row, c.Col)
		if p, ok := prev.Get(c.Row, c.Col); ok && p != matrix.NotProbed && p != w {
			changes = append(changes, rollout.Change{Cell: c, From: p, To: w})
		}
	}
	plan, err := h.Plan(ctx, h.States[i])
	if err != nil {
		return nil, err
	}
	return h.watchChanges(ctx, plan, changes)
}

// watchChanges starts the enforcement watch of changes on the plan's pods (nil when none
// can be timed). A UDP flow a change closes is not timed: conntrack keeps passing a
// lookup whose random source port matches a flow it still tracks (for minutes, refreshed
// by the lookups that hit it: settleUDP), which is the dataplane's documented behaviour,
// not the policy's latency; Converge still judges those cells.
func (h *Harness) watchChanges(ctx context.Context, plan probe.Plan, all []rollout.Change) (*enforcementWatch, error) {
	var changes []rollout.Change
	var cells []matrix.Cell
	untimed := 0
	for _, c := range all {
		if c.From == matrix.Allowed && strings.Contains(c.Cell.Col, "/udp") {
			untimed++
			continue
		}
		changes, cells = append(changes, c), append(cells, c.Cell)
	}
	if len(changes) == 0 {
		return nil, nil
	}
	sess, spec, err := h.StartEnforcementWatch(ctx, plan, cells)
	if err != nil {
		return nil, err
	}
	return &enforcementWatch{spec: spec, changes: changes, untimed: untimed, sess: sess}, nil
}

// StartEnforcementWatch starts probing cells every spec.Interval (the run's EnforceSpec,
// which it returns) and returns once the watch has run for spec.Lead: the change to time
// can be applied then.
func (h *Harness) StartEnforcementWatch(ctx context.Context, plan probe.Plan, cells []matrix.Cell) (*rollout.Session, EnforceSpec, error) {
	spec := h.Cfg.Enforce.orDefault()
	w := &rollout.Watcher{Stream: h.Kube, Binary: star.Binary, Interval: spec.Interval, Timeout: h.Cfg.ProbeTimeout, DNSTimeout: h.Cfg.ProbeTimeout, Max: h.Cfg.ConvergeDeadline + spec.MaxTail + time.Minute}
	sess, err := w.Start(ctx, plan, cells)
	if err != nil {
		return nil, spec, err
	}
	Sleep(ctx, spec.Lead)
	return sess, spec, nil
}

// applyWatched applies objs under the enforcement watch ew (nil: none), which learns when
// the apply call began and returned; a failed apply stops the watch. It returns when the
// call returned.
func (h *Harness) applyWatched(ctx context.Context, objs []scenario.Object, ew *enforcementWatch) (time.Time, error) {
	started := time.Now()
	if err := h.Apply(ctx, objs); err != nil {
		if ew != nil {
			ew.sess.Stop()
		}
		return time.Time{}, err
	}
	applied := time.Now()
	if ew != nil {
		ew.started, ew.applied = started, applied
	}
	return applied, nil
}

// finishEnforcement waits (after the step's rounds) until every changed cell showed its
// new verdict for the spec's Settle, at most its MaxTail, stops the watch and puts the latencies into
// the step; what cannot happen (the new verdict before the apply, a third verdict, a cell
// that never settled) fails it.
func (h *Harness) finishEnforcement(ctx context.Context, rs *report.Step, applied []scenario.Object, ew *enforcementWatch) {
	spec := ew.spec
	deadline := time.Now().Add(spec.MaxTail)
	for !rs.Failed() && time.Now().Before(deadline) && ctx.Err() == nil && !rollout.SettledFor(ew.sess.Observations(), ew.changes, spec.Settle) {
		time.Sleep(spec.Interval)
	}
	obs, events := ew.sess.Stop()
	e := &report.Enforcement{
		Interval: spec.Interval, Applied: ew.applied, Created: h.createdAt(ctx, applied, ew.started), UntimedUDP: ew.untimed,
		Cells: rollout.Enforcement(obs, ew.changes, ew.started, ew.applied),
	}
	rs.Enforcement = e
	if rs.Failed() {
		return // the rounds' verdict stands; the watch is what it saw until then
	}
	var wrong []string
	for _, c := range e.Cells {
		for _, w := range c.Wrong {
			wrong = append(wrong, fmt.Sprintf("%s -> %s (%s to %s): %s", c.Cell.Row, c.Cell.Col, c.From, c.To, w))
		}
		if !c.Settled {
			wrong = append(wrong, fmt.Sprintf("%s -> %s (%s to %s): not %s in every probe for %s within %s of the step's end (%d probes)", c.Cell.Row, c.Cell.Col, c.From, c.To, c.To, spec.Settle, spec.MaxTail, c.Probes))
		}
	}
	for _, ev := range events {
		wrong = append(wrong, fmt.Sprintf("the watch from %s was interrupted: %s", ev.Source, ev.Err))
	}
	if len(wrong) > 0 {
		rs.Failf("the enforcement watch (every changed cell probed every %s) saw what cannot happen:\n  %s", spec.Interval, strings.Join(wrong, "\n  "))
	}
}

// createdAt is the API server's creationTimestamp of the newest of the applied
// NetworkPolicies (zero when the apply created none: a policy applied again keeps its first
// one; admin policies are not read back). The server keeps whole seconds: one created during
// the apply may say up to 1 s before it began.
func (h *Harness) createdAt(ctx context.Context, applied []scenario.Object, started time.Time) time.Time {
	var newest time.Time
	for _, o := range applied {
		if o.Policy == nil {
			continue
		}
		p, err := h.Kube.Clientset().NetworkingV1().NetworkPolicies(o.Policy.Namespace).Get(ctx, o.Policy.Name, metav1.GetOptions{})
		if err == nil && !p.CreationTimestamp.Time.Before(started.Truncate(time.Second)) && p.CreationTimestamp.After(newest) {
			newest = p.CreationTimestamp.Time
		}
	}
	return newest
}
