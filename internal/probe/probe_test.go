package probe

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
)

func plan() (Plan, *matrix.Matrix) {
	p := Plan{
		Sources: []Source{{"frontend/client", "frontend", "client-abc", "star"}, {"backend/facade", "backend", "facade-xyz", "star"}},
		Targets: []Target{{"client:9000", "http://client.frontend:9000/status"}, {"facade:80", "http://facade.backend:80/status"}, {"dns:53/udp", "dns+udp://x"}},
	}
	want := matrix.New([]string{"frontend/client", "backend/facade"}, []string{"client:9000", "facade:80", "dns:53/udp"}, matrix.Allowed)
	_ = want.Set("frontend/client", "client:9000", matrix.NotProbed)
	_ = want.Set("backend/facade", "facade:80", matrix.NotProbed)
	_ = want.Set("backend/facade", "client:9000", matrix.Blocked)
	return p, want
}

// truthFrom answers with want's verdicts, by pod and URL.
func truthFrom(p Plan, want *matrix.Matrix) func(ns, pod, url string) matrix.Verdict {
	return func(ns, pod, url string) matrix.Verdict {
		for _, s := range p.Sources {
			if s.Namespace == ns && s.Pod == pod {
				for _, t := range p.Targets {
					if t.URL == url {
						v, _ := want.Get(s.ID, t.ID)
						return v
					}
				}
			}
		}
		return matrix.Error
	}
}

func TestRoundIsOneExecPerSource(t *testing.T) {
	p, want := plan()
	f := &FakeCluster{Truth: truthFrom(p, want)}
	e := &Engine{Exec: f, Timeout: time.Second, Binary: "/star"}
	obs, details := e.Round(context.Background(), p, want, nil)
	require.Equal(t, 2, f.Execs)
	mm, err := matrix.Compare(want, obs)
	require.NoError(t, err)
	require.Empty(t, mm)
	require.Len(t, details, 4)
	require.Zero(t, f.Probed["http://client.frontend:9000/status"]-1, "self cells are not probed")
}

func TestConvergeReprobesOnlyWrongCells(t *testing.T) {
	p, want := plan()
	start := time.Now()
	right := truthFrom(p, want)
	f := &FakeCluster{Truth: func(ns, pod, url string) matrix.Verdict {
		// The policy takes 300ms to be programmed: until then facade still reaches client.
		if pod == "facade-xyz" && strings.Contains(url, "client") && time.Since(start) < 300*time.Millisecond {
			return matrix.Allowed
		}
		return right(ns, pod, url)
	}}
	e := &Engine{Exec: f, Timeout: time.Second, Binary: "/star"}
	out, err := e.Converge(context.Background(), p, want, start, 5*time.Second)
	require.NoError(t, err)
	require.True(t, out.Converged)
	require.Equal(t, 1, out.FirstTry)
	require.GreaterOrEqual(t, out.Latency, 300*time.Millisecond)
	require.Less(t, out.Latency, 2*time.Second)
	// The dns cells of both sources were right: probed in the first and the confirming
	// full rounds only, never in between.
	require.Equal(t, 4, f.Probed["dns+udp://x"])
	require.Greater(t, f.Probed["http://client.frontend:9000/status"], 2, "the wrong cell was re-probed")
	// Per cell: the slow cell first showed its verdict after the 300 ms, the others at once.
	require.GreaterOrEqual(t, out.FirstRight[matrix.Cell{Row: "backend/facade", Col: "client:9000"}], 300*time.Millisecond)
	require.Less(t, out.FirstRight[matrix.Cell{Row: "backend/facade", Col: "dns:53/udp"}], 300*time.Millisecond)
	require.Empty(t, out.FlippedBack)
}

// A cell right once and wrong in the confirming round is reported as flipped back.
func TestConvergeReportsACellThatFlipsBack(t *testing.T) {
	p, want := plan()
	var rounds atomic.Int32
	right := truthFrom(p, want)
	f := &FakeCluster{Truth: func(ns, pod, url string) matrix.Verdict {
		if pod == "facade-xyz" && strings.Contains(url, "client") && rounds.Load() > 0 {
			return matrix.Allowed // programmed, then lost
		}
		return right(ns, pod, url)
	}}
	e := &Engine{Exec: execCounter{f, &rounds}, Timeout: time.Second, Binary: "/star"}
	out, err := e.Converge(context.Background(), p, want, time.Now(), time.Second)
	require.NoError(t, err)
	require.False(t, out.Converged)
	require.Equal(t, []matrix.Cell{{Row: "backend/facade", Col: "client:9000"}}, out.FlippedBack)
}

// execCounter counts rounds (execs of the second source mark a round's end).
type execCounter struct {
	*FakeCluster
	n *atomic.Int32
}

func (e execCounter) Exec(ctx context.Context, ns, pod, c string, cmd []string) (string, string, error) {
	if pod == "facade-xyz" {
		defer e.n.Add(1)
	}
	return e.FakeCluster.Exec(ctx, ns, pod, c, cmd)
}

func TestConvergeReportsWhatNeverMatched(t *testing.T) {
	p, want := plan()
	right := truthFrom(p, want)
	f := &FakeCluster{Truth: func(ns, pod, url string) matrix.Verdict {
		if pod == "client-abc" && strings.Contains(url, "facade") {
			return matrix.Refused
		}
		return right(ns, pod, url)
	}}
	e := &Engine{Exec: f, Timeout: time.Second, Binary: "/star", Kubectl: "kubectl --kubeconfig k"}
	out, err := e.Converge(context.Background(), p, want, time.Now(), 500*time.Millisecond)
	require.NoError(t, err)
	require.False(t, out.Converged)
	require.Len(t, out.Mismatches, 1)
	mm := out.Mismatches[0]
	require.Equal(t, matrix.Refused, mm.Got)
	require.True(t, mm.Broken())
	require.Equal(t, "kubectl --kubeconfig k exec -n frontend client-abc -c star -- /star check --timeout 1s http://facade.backend:80/status",
		e.Repro(p, matrix.Cell{Row: mm.Row, Col: mm.Col}))
}

func TestExecFailureIsAnErrorNamingThePod(t *testing.T) {
	p, want := plan()
	f := &FakeCluster{Truth: truthFrom(p, want), Broken: map[string]bool{"backend/facade-xyz": true}}
	e := &Engine{Exec: f, Timeout: time.Second, Binary: "/star"}
	obs, details := e.Round(context.Background(), p, want, nil)
	v, _ := obs.Get("backend/facade", "client:9000")
	require.Equal(t, matrix.Error, v, "never blocked")
	require.Contains(t, details[matrix.Cell{Row: "backend/facade", Col: "client:9000"}].Detail, "pod backend/facade-xyz could not run")
}

func TestRoundPerCellIsOneExecPerCell(t *testing.T) {
	p, want := plan()
	f := &FakeCluster{Truth: truthFrom(p, want)}
	e := &Engine{Exec: f, Timeout: time.Second, Binary: "/star"}
	obs, details := e.RoundPerCell(context.Background(), p, want, 2)
	require.Equal(t, len(want.ProbedCells()), f.Execs)
	require.Len(t, details, len(want.ProbedCells()))
	mm, err := matrix.Compare(want, obs)
	require.NoError(t, err)
	require.Empty(t, mm)
}

// A flow that connects in 1.5 s passes a 1 s probe as "blocked"; the confirming round's
// longer timeout sees it connect, and the step does not converge: a slow leak is a leak.
func TestConfirmingRoundCatchesASlowLeak(t *testing.T) {
	p, want := plan()
	leaky := want.Clone()
	_ = leaky.Set("backend/facade", "client:9000", matrix.Allowed) // what the dataplane really does
	f := &FakeCluster{Truth: truthFrom(p, leaky), Slow: map[string]time.Duration{"http://client.frontend:9000/status": 1500 * time.Millisecond}}
	e := &Engine{Exec: f, Timeout: time.Second, ConfirmTimeout: 5 * time.Second, Binary: "/star"}
	out, err := e.Converge(context.Background(), p, want, time.Now(), 50*time.Millisecond)
	require.NoError(t, err)
	require.Zero(t, out.FirstTry, "with 1 s every probe matched")
	require.False(t, out.Converged)
	require.Equal(t, 5*time.Second, out.ConfirmTimeout)
	require.Len(t, out.Mismatches, 1)
	require.Equal(t, matrix.Allowed, out.Mismatches[0].Got)
	require.Equal(t, int64(1500), out.Details[matrix.Cell{Row: "backend/facade", Col: "client:9000"}].Millis)
	require.Contains(t, e.Repro(p, matrix.Cell{Row: "backend/facade", Col: "client:9000"}), "/star check --timeout 5s http://client.frontend:9000/status")
}

// Sessions: one stream per source pod serves every round; no exec at all.
func TestSessionsServeEveryRoundWithoutExecs(t *testing.T) {
	p, want := plan()
	f := &FakeCluster{Truth: truthFrom(p, want)}
	e := &Engine{Exec: f, Sessions: f, Timeout: time.Second, Binary: "/star"}
	defer e.Close()
	for range 3 {
		obs, _ := e.Round(context.Background(), p, want, nil)
		mm, err := matrix.Compare(want, obs)
		require.NoError(t, err)
		require.Empty(t, mm)
	}
	require.Zero(t, f.Execs)
	require.Equal(t, 2, f.Streams, "one session per source, kept across rounds")
	// The perf baseline still execs once per source.
	e.RoundPerSource(context.Background(), p, want)
	require.Equal(t, 2, f.Execs)
}

// A session that cannot run is an error naming the pod, never a verdict; a replaced pod
// gets a session of its own.
func TestSessionFailureNamesThePod(t *testing.T) {
	p, want := plan()
	f := &FakeCluster{Truth: truthFrom(p, want), Broken: map[string]bool{"backend/facade-xyz": true}}
	e := &Engine{Exec: f, Sessions: f, Timeout: time.Second, Binary: "/star"}
	defer e.Close()
	obs, details := e.Round(context.Background(), p, want, nil)
	v, _ := obs.Get("backend/facade", "client:9000")
	require.Equal(t, matrix.Error, v)
	require.Contains(t, details[matrix.Cell{Row: "backend/facade", Col: "client:9000"}].Detail, "probe session to pod backend/facade-xyz ended: error: unable to upgrade connection")

	p.Sources[1].Pod = "facade-new"
	obs, _ = e.Round(context.Background(), p, want, nil)
	mm, err := matrix.Compare(want, obs)
	require.NoError(t, err)
	require.Empty(t, mm, "the replaced pod's new session answers")
}
