package harness

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// runTo runs the workshop's steps before step `to` on the twin.
func runTo(t *testing.T, h *Harness, to int) {
	t.Helper()
	for i := range to {
		require.Empty(t, h.RunStep(context.Background(), i).Failure, h.Scenario.Steps[i].Name)
	}
}

// firstChange is a cell step i changes, by its fixture and the one before.
func firstChange(t *testing.T, h *Harness, i int) matrix.Cell {
	t.Helper()
	prev, err := h.Scenario.LoadFixture(&h.Scenario.Steps[i-1], h.States[i-1])
	require.NoError(t, err)
	want, err := h.Scenario.LoadFixture(&h.Scenario.Steps[i], h.States[i])
	require.NoError(t, err)
	for _, c := range want.ProbedCells() {
		w, _ := want.Get(c.Row, c.Col)
		if p, _ := prev.Get(c.Row, c.Col); p != w && p != matrix.NotProbed {
			return c
		}
	}
	t.Fatal("the step changes no cell")
	return matrix.Cell{}
}

// A policy that takes effect 150 ms after its apply is measured so, per cell, to the
// watch's interval; steps that deploy pods get no watch.
func TestSimEnforcementLatencyPerCell(t *testing.T) {
	h, twin := simHarness(t)
	require.Nil(t, h.RunStep(context.Background(), 0).Enforcement, "00-deploy-v1 deploys pods")
	runTo(t, h, 2)
	time.Sleep(200 * time.Millisecond) // the earlier steps' policies in effect
	twin.EnforceAfter = 150 * time.Millisecond
	before := time.Now()
	rs := h.RunStep(context.Background(), 2)
	require.Empty(t, rs.Failure.String(), rs.Text())
	e := rs.Enforcement
	require.NotNil(t, e, "02-allow-management-ui is a policy step")
	require.NotEmpty(t, e.Cells)
	// The twin stored the policies during the apply call, after before; the latencies
	// count from the call's return (Applied): at least 150 ms less the time up to it
	// (about 50 ms on this machine, more on a loaded one).
	least := 150*time.Millisecond - e.Applied.Sub(before)
	for _, c := range e.Cells {
		require.True(t, c.Settled, "%v", c)
		require.Equal(t, matrix.Blocked, c.From)
		require.Equal(t, matrix.Allowed, c.To)
		require.GreaterOrEqual(t, c.Latency, least, "%v", c)
		require.Less(t, c.Latency, 150*time.Millisecond+5*h.Cfg.Enforce.Interval, "%v", c)
		require.Empty(t, c.Wrong)
	}
	p50, p95, worst, n := e.Quantiles()
	require.Equal(t, len(e.Cells), n)
	require.LessOrEqual(t, p50, p95)
	require.LessOrEqual(t, p95, worst)
	require.Contains(t, rs.Text(), "enforcement latency of the")
}

// A changed cell that shows its new verdict before the apply began fails the step, naming
// the cell, even though every round after the apply is right.
func TestSimEnforcementNewVerdictBeforeTheApplyFails(t *testing.T) {
	h, twin := simHarness(t)
	runTo(t, h, 2)
	c := firstChange(t, h, 2)
	twin.Leak[c] = true // allowed before 02-allow-management-ui allows it
	rs := h.RunStep(context.Background(), 2)
	require.True(t, rs.Converged)
	require.Contains(t, rs.Failure.String(), c.Row+" -> "+c.Col, rs.Text())
	require.Contains(t, rs.Failure.String(), "a probe showed allowed")
	require.Contains(t, rs.Failure.String(), "before the apply began")
}
