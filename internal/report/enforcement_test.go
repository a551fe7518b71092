package report

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/rollout"
)

func enforcementOf(lat ...time.Duration) *Enforcement {
	e := &Enforcement{Interval: 100 * time.Millisecond}
	for i, l := range lat {
		e.Cells = append(e.Cells, rollout.CellLatency{
			Change:  rollout.Change{Cell: matrix.Cell{Row: "r", Col: string(rune('a' + i))}, From: matrix.Blocked, To: matrix.Allowed},
			Latency: l, Settled: true, Probes: 12,
		})
	}
	return e
}

// Nearest-rank quantiles over settled cells; a cell that never settled is counted apart.
func TestEnforcementQuantilesAndSummary(t *testing.T) {
	ms := time.Millisecond
	e := enforcementOf(40*ms, 60*ms, 80*ms, 100*ms, 900*ms)
	e.Cells = append(e.Cells, rollout.CellLatency{Change: rollout.Change{Cell: matrix.Cell{Row: "r", Col: "z"}}, Probes: 3})
	p50, p95, worst, n := e.Quantiles()
	require.Equal(t, []time.Duration{80 * ms, 900 * ms, 900 * ms}, []time.Duration{p50, p95, worst})
	require.Equal(t, 5, n)
	require.Contains(t, e.Summary(), "of the 6 changed cells (probes every 100ms from before the apply): p50 80ms, p95 900ms, max 900ms; 1 never settled")
	html := enforcementHTML(e, 900*ms)
	require.Equal(t, 6, strings.Count(html, `class="bar"`))
	require.Contains(t, html, "never settled")
}

// Two replays side by side, a step each version timed, and their pooled quantiles.
func TestReplaysSideBySide(t *testing.T) {
	ms := time.Millisecond
	a := &Replay{Version: "v3.31.7", Steps: []ReplayedStep{{Step: "01"}, {Step: "02", Enforcement: enforcementOf(100*ms, 200*ms)}}}
	b := &Replay{Version: "v3.32.1", Steps: []ReplayedStep{{Step: "01"}, {Step: "02", Failed: true}}}
	text := CompareText([]*Replay{a, b})
	require.Contains(t, text, "02                       100ms/200ms/200ms            -")
	require.Contains(t, a.Text(), "01 on v3.31.7: deleting its policies changes no cell of the end state")
	require.Contains(t, b.Text(), "02 on v3.32.1: failed (below)")
	require.Equal(t, Pooled{P50: 100 * ms, P95: 200 * ms, Max: 200 * ms, N: 2}, a.P95())
}
