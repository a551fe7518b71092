package upgrade

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// adminLoss is a rollout to a Calico that enforces none of the admin policies the cluster
// holds (AdminNetworkPolicy and BaselineAdminNetworkPolicy into v3.32, whose release notes
// say so; ClusterNetworkPolicy back to v3.31, which does not know it). The evaluator says
// which cells the loss changes: each must deviate that way once the rollout is under way
// and still be so at the end, and nothing else may deviate. Like the negative control, it
// passes only if the loss is seen: a Calico that kept enforcing would fail it.
type adminLoss struct {
	// predicted are the cells the loss changes: Want what the end state says, Got what is
	// left without the admin policies.
	predicted []matrix.Mismatch
	applied   time.Time
}

// newAdminLoss predicts what losing every admin policy of the state does to its matrix, as
// this run probes it.
func newAdminLoss(h *harness.Harness, st *scenario.State) (*adminLoss, error) {
	if len(st.Admin) == 0 {
		return nil, fmt.Errorf("admin loss: no admin policy is in force at this state: the check proves nothing")
	}
	p, err := st.Predict(h.Scenario, h.Externals(), scenario.Change{Name: "admin loss", DropAdmin: true}, h.ByName())
	if err != nil {
		return nil, err
	}
	if len(p.Changed) == 0 {
		return nil, fmt.Errorf("admin loss: losing the admin policies changes no cell: the check proves nothing")
	}
	return &adminLoss{predicted: p.Changed}, nil
}

// lossKind is the deviation a predicted cell shows: a leak where the loss opens it, down where
// it closes it (an admin Allow gone).
func lossKind(m matrix.Mismatch) rollout.Kind {
	if m.Got == matrix.Allowed {
		return rollout.Leak
	}
	return rollout.Down
}

// explains says whether a deviation is the loss: on a predicted cell, of its kind, seen by
// a probe that ended after the new manifest was applied.
func (l *adminLoss) explains(d rollout.Deviation) bool {
	if l == nil {
		return false
	}
	return slices.ContainsFunc(l.predicted, func(m matrix.Mismatch) bool {
		return m.Row == d.Cell.Row && m.Col == d.Cell.Col && lossKind(m) == d.Kind
	}) && !d.FirstEnd.Before(l.applied)
}

// judge requires every predicted cell to deviate as predicted and to be so still at the end
// of the window (its last deviation open).
func (l *adminLoss) judge(a *rollout.Analysis) []string {
	var missing, ended []string
	for _, m := range l.predicted {
		var last *rollout.Deviation
		for i, d := range a.Deviations {
			if d.Cell.Row == m.Row && d.Cell.Col == m.Col && l.explains(d) {
				last = &a.Deviations[i]
			}
		}
		switch {
		case last == nil:
			missing = append(missing, fmt.Sprintf("%s (%s, want seen %s)", cellName(matrix.Cell{Row: m.Row, Col: m.Col}), lossKind(m), m.Got))
		case !last.Until.IsZero():
			ended = append(ended, fmt.Sprintf("%s (seen %s again from %s)", cellName(last.Cell), m.Want, last.Until.Format("15:04:05.000")))
		}
	}
	var out []string
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("admin loss: the predicted change was not seen on %d of %d cells: %s (is the new Calico still enforcing the admin policies?)", len(missing), len(l.predicted), strings.Join(missing, ", ")))
	}
	if len(ended) > 0 {
		out = append(out, fmt.Sprintf("admin loss: the change did not last to the end on %s", strings.Join(ended, ", ")))
	}
	return out
}
