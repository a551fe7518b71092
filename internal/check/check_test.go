package check

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/report"
)

// The phases run in order into one step; a failed setup skips the assessment but not
// the teardown, whose own error is a problem of its phase; the step is timed.
func TestPhases(t *testing.T) {
	ctx := context.Background()
	var ran []string
	phase := func(name string, err error) func(context.Context, *report.Step) error {
		return func(context.Context, *report.Step) error {
			ran = append(ran, name)
			time.Sleep(time.Millisecond)
			return err
		}
	}
	rs := (&Check{Name: "ok", Kind: "step", Setup: phase("setup", nil), Assess: phase("assess", nil), Teardown: phase("teardown", nil)}).Run(ctx)
	require.Equal(t, []string{"setup", "assess", "teardown"}, ran)
	require.False(t, rs.Failed())
	require.Equal(t, "step", rs.Kind)
	require.GreaterOrEqual(t, rs.Duration, 3*time.Millisecond)

	ran = nil
	rs = (&Check{Name: "bad-setup", Kind: "check", Setup: phase("setup", errors.New("no pods")), Assess: phase("assess", nil), Teardown: phase("teardown", errors.New("namespace stuck"))}).Run(ctx)
	require.Equal(t, []string{"setup", "teardown"}, ran, "no assessment after a failed setup")
	require.Equal(t, []report.Problem{{What: "no pods"}, {Phase: "teardown", What: "namespace stuck"}}, rs.Failure.Problems)

	// The feature's way: phase by phase, the step visible in between.
	c := New("assess-only", phase("assess", errors.New("2 cells differ")))
	c.RunSetup(ctx)
	require.False(t, c.Report().Failed())
	c.RunAssess(ctx)
	require.Equal(t, "2 cells differ", c.Report().Failure.String())
	require.Same(t, c.Report(), c.RunTeardown(ctx))
}

// A check made later is made when its setup runs; an error making it fails the setup.
func TestLater(t *testing.T) {
	ctx := context.Background()
	made := false
	c := Later("rollout", "check", func() (*Check, error) {
		made = true
		return New("inner", func(_ context.Context, rs *report.Step) error { rs.Rounds = 7; return nil }), nil
	})
	require.False(t, made)
	rs := c.Run(ctx)
	require.True(t, made)
	require.Equal(t, "rollout", rs.Name)
	require.Equal(t, 7, rs.Rounds)
	require.False(t, rs.Failed())

	rs = Later("rollout", "check", func() (*Check, error) { return nil, errors.New("no manifest of v3.32.1") }).Run(ctx)
	require.Equal(t, "no manifest of v3.32.1", rs.Failure.String())
}
