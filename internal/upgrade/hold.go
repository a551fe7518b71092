package upgrade

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/star"
)

// HoldSpec is the established-connections part of a rollout (like Cilium's conn-disrupt):
// one connection per allowed app cell, opened before Calico is touched and kept through
// the rollout, a request and its reply every Interval.
type HoldSpec struct {
	Interval time.Duration
	// ReplyBudget: a reply later than this is a disruption (as are a reset and a close).
	ReplyBudget time.Duration
	// Disruptions is how many disruptions the rollout may cause (0: none).
	Disruptions int
	// RestartServer, for the control, is a service target ("client:9000") whose server is
	// restarted mid-rollout: exactly its held cells must be reported disrupted.
	RestartServer string
}

// HeldCells are the allowed cells to an app service: what a held connection can use.
func HeldCells(st *scenario.State, s *scenario.Scenario, want *matrix.Matrix) ([]matrix.Cell, error) {
	targets, err := st.Targets(s)
	if err != nil {
		return nil, err
	}
	var out []matrix.Cell
	for _, c := range want.ProbedCells() {
		i := slices.IndexFunc(targets, func(t scenario.Target) bool { return t.ID == c.Col })
		if v, _ := want.Get(c.Row, c.Col); v == matrix.Allowed && i >= 0 && targets[i].Kind == scenario.ServiceTarget {
			out = append(out, c)
		}
	}
	return out, nil
}

// startHolds opens the held connections and waits until each has exchanged a message.
func startHolds(ctx context.Context, h *harness.Harness, spec HoldSpec, plan probe.Plan, cells []matrix.Cell, timeout time.Duration) (*rollout.HoldSession, error) {
	holder := &rollout.Holder{Stream: h.Kube, Binary: star.Binary, Interval: spec.Interval, Budget: spec.ReplyBudget, Timeout: h.Cfg.ProbeTimeout, DNSTimeout: h.Cfg.DNSTimeout}
	hs, err := holder.Start(ctx, plan, cells)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		waiting := 0
		for _, c := range hs.Snapshot() {
			if c.Exchanges == 0 {
				waiting++
			}
		}
		if waiting == 0 {
			return hs, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			conns, _ := hs.Stop()
			return nil, fmt.Errorf("held connections: %d of %d never exchanged a message within %s: %s", waiting, len(cells), timeout, strings.Join(rollout.JudgeConns(conns, nil, 0, nil), "; "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// serverRestart is the held connections' control: a server restarted on purpose.
type serverRestart struct {
	after     time.Duration // after the apply, when the server restarts
	col       string
	predicted []matrix.Cell
	at        time.Time
}

// CheckConnControl says whether col can serve as the connection control's target.
func CheckConnControl(st *scenario.State, s *scenario.Scenario, want *matrix.Matrix, col string) error {
	held, err := HeldCells(st, s, want)
	if err != nil {
		return err
	}
	_, err = newServerRestart(col, held)
	return err
}

func newServerRestart(col string, held []matrix.Cell) (*serverRestart, error) {
	r := &serverRestart{col: col, after: 8 * time.Second}
	for _, c := range held {
		if c.Col == col {
			r.predicted = append(r.predicted, c)
		}
	}
	if len(r.predicted) == 0 {
		return nil, fmt.Errorf("connection control: no held connection goes to %q (held targets are the allowed app services)", col)
	}
	return r, nil
}

// runIf runs the control when there is one.
func (r *serverRestart) runIf(ctx context.Context, h *harness.Harness, plan probe.Plan, st *scenario.State, applied time.Time) error {
	if r == nil {
		return nil
	}
	return r.run(ctx, h, plan, st, applied)
}

// run restarts the server behind the column once the rollout is under way.
func (r *serverRestart) run(ctx context.Context, h *harness.Harness, plan probe.Plan, st *scenario.State, applied time.Time) error {
	targets, err := st.Targets(h.Scenario)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(targets, func(t scenario.Target) bool { return t.ID == r.col })
	if i < 0 {
		return fmt.Errorf("connection control: no target %s", r.col)
	}
	b := targets[i].Backend
	j := slices.IndexFunc(plan.Sources, func(s probe.Source) bool { return s.ID == b.Namespace+"/"+b.Name })
	if j < 0 {
		return fmt.Errorf("connection control: no pod serves %s", r.col)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(applied.Add(r.after))):
	}
	src := plan.Sources[j]
	r.at = time.Now()
	if _, stderr, err := h.Kube.Exec(ctx, src.Namespace, src.Pod, src.Container, []string{star.Binary, "restart-server"}); err != nil {
		return fmt.Errorf("connection control: restart the server of %s in %s: %w %s", r.col, src.Pod, err, stderr)
	}
	return nil
}

// explains says whether a disruption is the control's: on a predicted cell, within 5 s
// of the restart.
func (r *serverRestart) explains(d rollout.Disruption) bool {
	return r != nil && !r.at.IsZero() && slices.Contains(r.predicted, d.Cell) && !d.At.Before(r.at.Add(-time.Second)) && d.At.Before(r.at.Add(5*time.Second))
}

// judge requires a reported disruption on each predicted cell.
func (r *serverRestart) judge(conns []*rollout.Conn) []string {
	var missing []string
	for _, c := range conns {
		if slices.Contains(r.predicted, c.Cell) && !slices.ContainsFunc(c.Disruptions, r.explains) {
			missing = append(missing, cellName(c.Cell))
		}
	}
	if len(missing) > 0 || r.at.IsZero() {
		return []string{fmt.Sprintf("connection control: the server of %s was restarted at %s but no disruption was reported on %s", r.col, r.at.Format("15:04:05.000"), strings.Join(missing, ", "))}
	}
	return nil
}
