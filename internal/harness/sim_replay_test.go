package harness

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/rollout"
)

// The replay deletes and re-applies every policy step's policies on the end state and
// times the re-apply; a version whose policies take effect 600 ms later than the one
// before fails the comparison, the same replay on an equally fast one passes.
func TestSimReplayCatchesASlowerVersion(t *testing.T) {
	h, twin := endStateOnSim(t)
	ctx := context.Background()
	a := h.ReplayEnforcement(8, "replay-a", "v1").Run(ctx)
	require.Empty(t, a.Failure.String(), a.Text())
	timed := 0
	for _, s := range a.Replay.Steps {
		if s.Enforcement != nil {
			timed++
		}
	}
	require.GreaterOrEqual(t, timed, 4, a.Text())
	budget := SlowdownBudget{Factor: 2, Min: 500 * time.Millisecond}
	same := h.ReplayEnforcement(8, "replay-same", "v1").Run(ctx)
	require.Empty(t, same.Failure.String(), same.Text())
	require.NoError(t, CompareEnforcement(a.Replay, same.Replay, budget))

	time.Sleep(700 * time.Millisecond) // the policies applied so far in effect under the delay
	twin.EnforceAfter = 600 * time.Millisecond
	slow := h.ReplayEnforcement(8, "replay-slow", "v2").Run(ctx)
	require.Empty(t, slow.Failure.String(), slow.Text())
	err := CompareEnforcement(a.Replay, slow.Replay, budget)
	require.ErrorContains(t, err, "calico v2 enforces slower than v1")
	require.Contains(t, report.CompareText([]*report.Replay{a.Replay, slow.Replay}), "all cells")
}

func replayOf(version string, lat ...time.Duration) *report.Replay {
	e := &report.Enforcement{}
	for _, l := range lat {
		e.Cells = append(e.Cells, rollout.CellLatency{Latency: l, Settled: true})
	}
	return &report.Replay{Version: version, Steps: []report.ReplayedStep{{Step: "s", Enforcement: e}}}
}

// The budget: B fails only when its p95 is both over Factor times A's and at least Min
// above it; a replay without a settled cell is not compared (it reports itself).
func TestCompareEnforcementBudget(t *testing.T) {
	b := SlowdownBudget{Factor: 2, Min: 500 * time.Millisecond}
	ms := time.Millisecond
	require.NoError(t, CompareEnforcement(replayOf("a", 200*ms), replayOf("b", 390*ms), b))
	require.NoError(t, CompareEnforcement(replayOf("a", 200*ms), replayOf("b", 700*ms), b), "3.5x but only 500 ms more")
	require.Error(t, CompareEnforcement(replayOf("a", 200*ms), replayOf("b", 701*ms), b))
	require.Error(t, CompareEnforcement(replayOf("a", 50*ms), replayOf("b", 600*ms), b))
	require.NoError(t, CompareEnforcement(replayOf("a", 900*ms), replayOf("b", 1500*ms), b), "600 ms more but under 2x")
	require.NoError(t, CompareEnforcement(replayOf("a"), replayOf("b", 5*time.Second), b))
}
