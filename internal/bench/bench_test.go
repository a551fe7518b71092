package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/harnesstest"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// The benchmark's expectation (t0-t3 allowed, t4-t7 blocked) is what the evaluator
// computes from the objects it applies, and they pass the loader's checks.
func TestBenchObjectsMeanWhatTheBenchExpects(t *testing.T) {
	st := scenario.NewState()
	step := &scenario.Step{Name: "bench", Objects: objects(3, Targets, true)}
	require.NoError(t, st.Apply(step))
	s := &scenario.Scenario{External: scenario.ExternalTarget{Target: "external:8080", Port: 8080, IP: "172.18.255.200"}}
	m, err := st.Expected(s, s.External.IP)
	require.NoError(t, err)
	for i, col := range []string{"t0:8080", "t1:8080", "t2:8080", "t3:8080", "t4:8080", "t5:8080", "t6:8080", "t7:8080"} {
		v, ok := m.Get(Namespace+"/src", col)
		require.True(t, ok, col)
		want := "allowed"
		if i >= Targets/2 {
			want = "blocked"
		}
		require.Equal(t, want, v.String(), col)
	}
}

// The benchmark runs against the simulated twin: every size's sources are listed, their
// sessions opened, the timed rounds match the expectation; a leak fails it, naming the
// size and the wrong cell.
func TestSimBench(t *testing.T) {
	h, twin := harnesstest.New(t, "../../scenario.yaml")
	ctx := context.Background()
	points, err := Scale(ctx, h, []int{3, 5}, Targets, 2)
	require.NoError(t, err)
	require.Len(t, points, 2)
	require.Equal(t, 5, points[1].Sources)
	require.Equal(t, 40, points[1].Cells)
	require.Positive(t, points[1].Median)
	require.Empty(t, twin.Deps, "the benchmark's namespace is deleted afterwards")

	twin.Leak[matrix.Cell{Row: Namespace + "/src", Col: "t5:8080"}] = true
	_, err = Scale(ctx, h, []int{2}, Targets, 1)
	require.ErrorContains(t, err, "bench 2 sources")
}

// The enforcement benchmark on the twin: N policies applied one after another, each cell
// timed from its own policy's apply, then all deleted and the default deny seen again
// before the next N. The twin enforces 400 ms after storing a policy; a latency over 200 ms
// (timed from the apply call's return) leaves room for a loaded machine's slow calls.
func TestSimBenchEnforcement(t *testing.T) {
	h, twin := harnesstest.New(t, "../../scenario.yaml")
	twin.EnforceAfter, twin.DelayPrefix = 400*time.Millisecond, "allow-"
	points, err := Enforcement(context.Background(), h, 2, []int{1, 3})
	require.NoError(t, err)
	require.Len(t, points, 2)
	require.Len(t, points[0].All.Cells, 2)
	require.Len(t, points[1].All.Cells, 6)
	require.Len(t, points[1].Last.Cells, 2)
	for _, p := range points {
		for _, c := range p.All.Cells {
			require.True(t, c.Settled, "%v", c)
			require.Greater(t, c.Latency, 200*time.Millisecond, "%v", c)
		}
	}
	require.Contains(t, report.EnforceTable(points), "policies")
}

// The probing benchmark at the workshop's step 08: the session rounds match the fixture;
// the baselines cost one exec per source, then one per cell twice (ours, upstream's way).
func TestSimPerf(t *testing.T) {
	h, twin := harnesstest.EndState(t, "../../scenario.yaml")
	execs := twin.Execs
	rs := Perf(h, 8, 1).Run(context.Background())
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.Equal(t, 6+48+48, twin.Execs-execs)
	require.Contains(t, rs.Text(), "sessions (one long-lived exec per source)")
}
