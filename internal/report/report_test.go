package report

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/rollout"
)

// table is a one-cell matrix x/y -> a:1 holding v.
func table(v matrix.Verdict) *matrix.Matrix { return matrix.New([]string{"x/y"}, []string{"a:1"}, v) }

func sampleRun() *Run {
	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	cell := matrix.Cell{Row: "x/y", Col: "a:1"}
	return &Run{
		Suite: "netpol-e2e", Started: t0, Finished: t0.Add(5 * time.Minute),
		Environment: map[string]string{"cluster": "kind"}, Timings: map[string]string{"kind create": "30s"},
		Steps: []*Step{
			{
				Name: "00-deploy-v1", Kind: "step", Expected: table(matrix.Allowed), Observed: table(matrix.Allowed), Latency: 2 * time.Second, Rounds: 2, Converged: true,
				Results: []matrix.Result{{Cell: cell, Verdict: matrix.Allowed}},
			},
			{
				Name: "01-default-deny", Kind: "step", Expected: table(matrix.Blocked), Observed: table(matrix.Allowed), Latency: 4 * time.Second, Rounds: 9,
				Mismatches: []matrix.Mismatch{{Row: "x/y", Col: "a:1", Want: matrix.Blocked, Got: matrix.Allowed}}, Failure: &Failure{Problems: []Problem{{What: "1 cells differ"}}},
				Results: []matrix.Result{{Cell: cell, Verdict: matrix.Allowed, Repro: "kubectl exec -n x y -- /star check http://a:1/status"}},
			},
			{Name: "proof", Kind: "check", Proof: &Proof{A: Placement{IP: "10.244.1.2", Node: "node1"}, B: Placement{IP: "10.244.2.3", Node: "node2"}}},
		},
	}
}

func TestJUnitHasOneCasePerStepAndMarksFailures(t *testing.T) {
	x, err := sampleRun().JUnit()
	require.NoError(t, err)
	var s junitSuites
	require.NoError(t, xml.Unmarshal(x, &s))
	require.Len(t, s.Suites, 1)
	require.Equal(t, 3, s.Suites[0].Tests)
	require.Equal(t, 1, s.Suites[0].Failures)
	require.Nil(t, s.Suites[0].Cases[0].Failure)
	require.Contains(t, s.Suites[0].Cases[1].Failure.Text, "kubectl exec -n x y")
}

func TestSummaryReportsMedianAndWorstLatency(t *testing.T) {
	s := sampleRun().Summary()
	require.Contains(t, s, "median 4s, worst 4s")
	require.Contains(t, s, "01-default-deny              FAIL")
	require.Contains(t, s, "total 5m0s")
	// The failure is repeated last, where a log's tail shows it.
	require.Regexp(t, `total 5m0s\nFAIL 01-default-deny:\n  \S`, s)
}

func TestWriteProducesEveryFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, sampleRun().Write(dir))
	for _, f := range []string{"results.json", "junit.xml", "summary.txt", "report.html"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.NotEmpty(t, b)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	require.Contains(t, string(page), `class="a w"`, "the wrong cell is highlighted")
	require.False(t, strings.Contains(string(page), "http://") && strings.Contains(string(page), "<script src"), "no external assets")
}

func TestRolloutRendering(t *testing.T) {
	t0 := time.Unix(100, 0)
	at := func(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	r := &Run{Suite: "s", Started: time.Unix(0, 0), Finished: time.Unix(60, 0), Steps: []*Step{{
		Name: "upgrade", Kind: "check", Failure: &Failure{Problems: []Problem{{What: "LEAK: a -> b"}}},
		Rollout: &Rollout{
			From: "v1", To: "v2", Note: "offline: two builds", IntervalMs: 250, Cells: 2, Observations: 40, Leaks: 1,
			Applied:    t0,
			Deviations: []rollout.Deviation{{Kind: rollout.Leak, Cell: matrix.Cell{Row: "a", Col: "b"}, Want: matrix.Blocked, Got: matrix.Allowed, First: at(1500), Last: at(1750), Until: at(2000), Count: 2}},
			Timeline: []rollout.Event{
				{At: at(0), Kind: "harness", Text: "applied"},
				{At: at(1000), Kind: "calico", Text: "calico-node-x on n1 gone"},
				{At: at(1200), Kind: "slow", Text: "a -> c: right, but took 1.2s"},
				{At: at(1500), Kind: "leak", Text: "a -> b: allowed, want blocked"},
			},
		},
	}}}
	text := r.Steps[0].Text()
	require.Contains(t, text, "rollout v1 -> v2 (offline: two builds)")
	require.Contains(t, text, "leaks (denied seen allowed): 1")
	require.Contains(t, text, "+1.500s  leak    a -> b: allowed, want blocked")
	require.NotContains(t, text, "took 1.2s", "slow probes stay out of the text timeline")
	page := r.HTML()
	require.Contains(t, page, `<svg width=`)
	require.Contains(t, page, `<tr class="leak">`)
	require.Contains(t, page, "took 1.2s", "the HTML timeline lists slow probes")
	require.Contains(t, page, `href="#upgrade"`)
	require.NotContains(t, page, "http://", "no external assets")
}

func TestGridKeepsTheMatrixOrderAndFramesWrongCells(t *testing.T) {
	want := matrix.New([]string{"a", "b"}, []string{"x", "y"}, matrix.Allowed)
	require.NoError(t, want.Set("a", "x", matrix.NotProbed))
	require.NoError(t, want.Set("b", "x", matrix.Blocked))
	require.NoError(t, want.Set("b", "y", matrix.NotProbed))
	got := want.Clone()
	require.NoError(t, got.Set("b", "x", matrix.Allowed))
	s := &Step{Expected: want, Observed: got, Results: []matrix.Result{{Cell: matrix.Cell{Row: "b", Col: "x"}, Verdict: matrix.Allowed, Detail: "connected", Repro: "kubectl exec b"}}}
	g := grid(s, got)
	require.Less(t, strings.Index(g, "<th>x</th>"), strings.Index(g, "<th>y</th>"))
	require.Equal(t, 1, strings.Count(g, `class="a w"`), "exactly the wrong cell is framed")
	require.Contains(t, g, "repro: kubectl exec b")
	require.Contains(t, grid(s, want), `class="b w"`, "the expected grid frames it too")
	js, err := json.Marshal(s)
	require.NoError(t, err)
	require.Contains(t, string(js), `"cells":[["not-probed","allowed"],["blocked","not-probed"]]`, "verdicts are names in JSON")
	require.Contains(t, string(js), `"from":"b","to":"x","url":"","verdict":"allowed"`)
}

func TestBenchRendering(t *testing.T) {
	points := []BenchPoint{
		{Sources: 6, Targets: 8, Cells: 48, Median: time.Second, Worst: 1100 * time.Millisecond, CPU: 300 * time.Millisecond, MaxRSS: 90 * 1024},
		{Sources: 50, Targets: 8, Cells: 400, Median: 1500 * time.Millisecond, Worst: 2 * time.Second, CPU: 2 * time.Second, MaxRSS: 120 * 1024},
	}
	require.Equal(t, `sources  targets  cells  median     worst      cpu        maxrss
6        8        48     1s         1.1s       300ms      90 MiB
50       8        400    1.5s       2s         2s         120 MiB
`, BenchTable(points))
	// x = 40 + n/50*400, y = 260 - median/2s*220: (88, 150) and (440, 95).
	svg := BenchSVG(points)
	require.True(t, strings.HasPrefix(svg, "<svg"))
	require.Contains(t, svg, `<polyline points="88.0,150.0 440.0,95.0"`)
}
