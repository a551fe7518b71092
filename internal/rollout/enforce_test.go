package rollout

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// probes of one cell every 100 ms from t0, verdicts in order.
func scheduled(c matrix.Cell, t0 time.Time, vs ...matrix.Verdict) []matrix.Result {
	var out []matrix.Result
	for i, v := range vs {
		out = append(out, matrix.Result{Cell: c, Verdict: v, At: t0.Add(time.Duration(i) * 100 * time.Millisecond)})
	}
	return out
}

const (
	A = matrix.Allowed
	B = matrix.Blocked
)

// The latency is the start of the first probe of the final run of the new verdict, from the
// apply's return: 100 ms resolution, a flip back counted, the probes before the apply
// showing the old verdict.
func TestEnforcementLatencyAtTheSchedulesResolution(t *testing.T) {
	t0 := time.Unix(1000, 0)
	started, applied := t0.Add(250*time.Millisecond), t0.Add(280*time.Millisecond)
	c1, c2 := matrix.Cell{Row: "a", Col: "x"}, matrix.Cell{Row: "b", Col: "y"}
	obs := append(scheduled(c1, t0, A, A, A, A, A, A, B, B, B, B),
		scheduled(c2, t0, B, B, B, B, A, B, A, A, A, A)...)
	got := Enforcement(obs, []Change{{c1, A, B}, {c2, B, A}}, started, applied)
	require.Len(t, got, 2)
	require.True(t, got[0].Settled)
	require.Equal(t, 320*time.Millisecond, got[0].Latency) // probe 6 at 600 ms
	require.Zero(t, got[0].Flips)
	require.Empty(t, got[0].Wrong)
	require.Equal(t, 320*time.Millisecond, got[1].Latency) // probe 6, after a flip back at 500 ms
	require.Equal(t, 1, got[1].Flips)
	require.Equal(t, 10, got[1].Probes)
}

// What cannot happen is named: the new verdict before the apply began, a third verdict;
// a cell that never settled, or was never probed, is not settled.
func TestEnforcementNamesWhatCannotHappen(t *testing.T) {
	t0 := time.Unix(1000, 0)
	started, applied := t0.Add(250*time.Millisecond), t0.Add(280*time.Millisecond)
	c1, c2, c3 := matrix.Cell{Row: "a", Col: "x"}, matrix.Cell{Row: "b", Col: "y"}, matrix.Cell{Row: "c", Col: "z"}
	obs := append(scheduled(c1, t0, B, A, A, A), scheduled(c2, t0, A, A, A, matrix.Refused, B, A)...)
	got := Enforcement(obs, []Change{{c1, A, B}, {c2, A, B}, {c3, A, B}}, started, applied)
	require.Len(t, got[0].Wrong, 1)
	require.Contains(t, got[0].Wrong[0], "a probe showed blocked 250ms before the apply began")
	require.False(t, got[0].Settled)
	require.Len(t, got[1].Wrong, 1)
	require.Contains(t, got[1].Wrong[0], "showed refused")
	require.False(t, got[1].Settled)
	require.False(t, got[2].Settled)
	require.Zero(t, got[2].Probes)
}

// The watch may stop once every changed cell showed its new verdict for the whole span.
func TestSettledFor(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c1, c2 := matrix.Cell{Row: "a", Col: "x"}, matrix.Cell{Row: "b", Col: "y"}
	ch := []Change{{c1, A, B}, {c2, B, A}}
	obs := append(scheduled(c1, t0, A, B, B, B, B, B, B), scheduled(c2, t0, B, B, B, A, A, A, A)...)
	require.True(t, SettledFor(obs, ch, 300*time.Millisecond))
	require.False(t, SettledFor(obs, ch, 400*time.Millisecond), "c2 shows allowed for 300 ms only")
	require.False(t, SettledFor(scheduled(c1, t0, B, B, B, B, B), ch, 100*time.Millisecond), "c2 never probed")
}

// An allowed probe proves "allowed" by its end, not its start: one started before the apply
// whose SYN passed on its retransmission after it is no early verdict, and the latency is
// the earliest end among the final run (seen live with a 1 s timeout).
func TestEnforcementAllowedIsProvenByItsEnd(t *testing.T) {
	t0 := time.Unix(1000, 0)
	started, applied := t0.Add(250*time.Millisecond), t0.Add(280*time.Millisecond)
	c := matrix.Cell{Row: "a", Col: "x"}
	obs := scheduled(c, t0, B, B, A, A, A, A, A)
	for i := range obs {
		obs[i].Millis = 2
	}
	obs[2].Millis = 1000 // started at 200 ms, connected at 1.2 s
	obs[3].Millis = 900  // started at 300 ms, connected at 1.2 s
	obs[4].Millis = 3    // started at 400 ms: the first SYN passed
	got := Enforcement(obs, []Change{{c, B, A}}, started, applied)
	require.Empty(t, got[0].Wrong)
	require.True(t, got[0].Settled)
	require.Equal(t, 123*time.Millisecond, got[0].Latency) // 403 ms - 280 ms
	obs[2].Millis = 10                                     // ended at 210 ms: allowed before the apply began
	require.Contains(t, Enforcement(obs, []Change{{c, B, A}}, started, applied)[0].Wrong[0], "a probe showed allowed 40ms before the apply began")
}
