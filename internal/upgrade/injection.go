package upgrade

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// injection is the negative control: policies deleted mid-rollout, then restored.
type injection struct {
	policies          []*networkingv1.NetworkPolicy
	predicted         []matrix.Cell
	udp               bool
	after             time.Duration // after the apply, when the policies are deleted
	deleted, restored time.Time
}

func newInjection(h *harness.Harness, st *scenario.State, refs []string) (*injection, error) {
	policies, opened, err := st.DeletionOpens(h.Scenario, h.Externals(), refs)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	inj := &injection{policies: policies, predicted: opened, after: 5 * time.Second}
	for _, c := range opened {
		inj.udp = inj.udp || strings.HasSuffix(c.Col, "/udp")
	}
	return inj, nil
}

// runIf runs the control when there is one.
func (inj *injection) runIf(ctx context.Context, h *harness.Harness, sess *rollout.Session, applied time.Time) error {
	if inj == nil {
		return nil
	}
	return inj.run(ctx, h, sess, applied)
}

// explainsIf is explains for a control that may be absent.
func (inj *injection) explainsIf(d rollout.Deviation, cfg harness.Config) bool {
	return inj != nil && inj.explains(d, cfg)
}

// ControlAllowance is how long after the negative control's restore its leak may still be
// seen: the restored policies are enforced once Felix programs them, and the control runs
// while calico-node restarts node by node (30-35 s for a new calico-node to be ready here),
// so it is one restart and a margin. UDP cells add the conntrack timeout. A leak of the
// control must end within it; one still seen after it is a failure.
const ControlAllowance = 45 * time.Second

// run deletes the policy once the rollout is under way, waits until every predicted cell
// was seen leaking (or 45 s), restores it, and waits until every predicted cell is seen
// denied again (or the allowance passes), so that the judged window shows whether the
// leak ended. A failed restore is an error.
func (inj *injection) run(ctx context.Context, h *harness.Harness, sess *rollout.Session, applied time.Time) (err error) {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(applied.Add(inj.after))):
	}
	us, err := harness.Unstructured(inj.objects())
	if err != nil {
		return err
	}
	inj.deleted = time.Now()
	if err := h.Kube.Delete(ctx, us...); err != nil {
		return err
	}
	defer func() {
		// Restore in reverse order: an allow policy back before the deny it narrows, so the
		// restore itself denies nothing the end state allows.
		objs := inj.objects()
		slices.Reverse(objs)
		inj.restored = time.Now()
		for _, o := range objs {
			if rerr := h.Apply(context.WithoutCancel(ctx), []scenario.Object{o}); rerr != nil {
				err = errors.Join(err, fmt.Errorf("restore %s/%s: %w", o.Policy.Namespace, o.Policy.Name, rerr))
			}
		}
		inj.waitSeen(ctx, sess, inj.restored, matrix.Blocked, inj.restored.Add(inj.grace(h.Cfg)))
	}()
	inj.waitSeen(ctx, sess, inj.deleted, matrix.Allowed, time.Now().Add(45*time.Second))
	return nil // judge says which predicted cells never leaked
}

// waitSeen waits until every predicted cell was observed with v by a probe that started
// after since, or until the deadline.
func (inj *injection) waitSeen(ctx context.Context, sess *rollout.Session, since time.Time, v matrix.Verdict, deadline time.Time) {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		seen := map[matrix.Cell]bool{}
		for _, o := range sess.Observations() {
			if o.At.After(since) && o.Verdict == v {
				seen[o.Cell] = true
			}
		}
		if !slices.ContainsFunc(inj.predicted, func(c matrix.Cell) bool { return !seen[c] }) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// grace is how long after the restore a leak may still be the control's: the stated
// allowance, plus the UDP conntrack timeout for UDP cells.
func (inj *injection) grace(cfg harness.Config) time.Duration {
	g := ControlAllowance
	if inj.udp {
		g += cfg.ConntrackUDPTimeout
	}
	return g
}

// explains says whether a deviation is the control's leak: one it caused (duringControl),
// over within the allowance after the restore.
func (inj *injection) explains(d rollout.Deviation, cfg harness.Config) bool {
	return inj.duringControl(d) && inj.ended(d, cfg)
}

// duringControl says whether a deviation is a leak on a predicted cell, seen by a probe that
// ended after the deletion, in a control that restored its policies.
func (inj *injection) duringControl(d rollout.Deviation) bool {
	return d.Kind == rollout.Leak && slices.Contains(inj.predicted, d.Cell) && !inj.deleted.IsZero() &&
		!d.FirstEnd.Before(inj.deleted) && !inj.restored.IsZero()
}

// ended says whether a leak stopped within the allowance after the restore.
func (inj *injection) ended(d rollout.Deviation, cfg harness.Config) bool {
	return !d.Until.IsZero() && d.Until.Before(inj.restored.Add(inj.grace(cfg)))
}

// judge requires the suite to have reported the injected leak on exactly the predicted
// cells, each leak over within the allowance after the restore.
func (inj *injection) judge(a *rollout.Analysis, cfg harness.Config) []string {
	var leaked []matrix.Cell
	var out []string
	for _, d := range a.Deviations {
		switch {
		case inj.explains(d, cfg) && !slices.Contains(leaked, d.Cell):
			leaked = append(leaked, d.Cell)
		case inj.duringControl(d) && !inj.ended(d, cfg):
			out = append(out, fmt.Sprintf("control: the injected leak on %s did not end within %s of the restore of %s (the allowance): still leaking", cellName(d.Cell), inj.grace(cfg), inj.name()))
		}
	}
	var missing []string
	for _, c := range inj.predicted {
		if !slices.Contains(leaked, c) {
			missing = append(missing, cellName(c))
		}
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("control: the suite did not report the injected leak on %s (deleted %s)", strings.Join(missing, ", "), inj.name()))
	}
	return out
}

func (inj *injection) objects() []scenario.Object {
	var out []scenario.Object
	for _, p := range inj.policies {
		out = append(out, scenario.Object{File: "control", Policy: p})
	}
	return out
}

func (inj *injection) name() string {
	var names []string
	for _, p := range inj.policies {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	return "policies " + strings.Join(names, ", ")
}
