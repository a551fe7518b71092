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

// facadeToClientFor answers with want's verdicts, except facade -> client, which shows seen
// until d after start (the change taking that long to be programmed).
func facadeToClientFor(p Plan, want *matrix.Matrix, start time.Time, d time.Duration, seen matrix.Verdict) func(ns, pod, url string) matrix.Verdict {
	right := truthFrom(p, want)
	return func(ns, pod, url string) matrix.Verdict {
		if pod == "facade-xyz" && strings.Contains(url, "client") && time.Since(start) < d {
			return seen
		}
		return right(ns, pod, url)
	}
}

// before is plan's matrix before a change that denies facade -> client (allowed before).
func before(want *matrix.Matrix) *matrix.Matrix {
	b := want.Clone()
	_ = b.Set("backend/facade", "client:9000", matrix.Allowed)
	return b
}

func TestConvergeProbesEveryCellInEveryRound(t *testing.T) {
	p, want := plan()
	start := time.Now()
	// The policy takes 300ms to be programmed: until then facade still reaches client.
	f := &FakeCluster{Truth: facadeToClientFor(p, want, start, 300*time.Millisecond, matrix.Allowed)}
	e := &Engine{Exec: f, Timeout: time.Second, Binary: "/star"}
	out, err := e.Converge(context.Background(), p, want, before(want), start, 5*time.Second)
	require.NoError(t, err)
	require.True(t, out.Converged)
	require.Empty(t, out.Leaks)
	require.Equal(t, 1, out.Changing)
	require.Equal(t, 1, out.FirstTry)
	require.GreaterOrEqual(t, out.Latency, 300*time.Millisecond)
	require.Less(t, out.Latency, 2*time.Second)
	require.Greater(t, out.Rounds, 2)
	// The dns cells of both sources were right from the start and were probed anyway, in
	// every round: a cell right once is looked at again.
	require.Equal(t, 2*out.Rounds, f.Probed["dns+udp://x"])
	// Per cell: the slow cell settled after the 300 ms, the others at once.
	require.GreaterOrEqual(t, out.FirstRight[matrix.Cell{Row: "backend/facade", Col: "client:9000"}], 300*time.Millisecond)
	require.Less(t, out.FirstRight[matrix.Cell{Row: "backend/facade", Col: "dns:53/udp"}], 300*time.Millisecond)
	require.Less(t, out.Settled[matrix.Cell{Row: "backend/facade", Col: "dns:53/udp"}], 50*time.Millisecond, "right from the first round on")
	require.Empty(t, out.FlippedBack)
}

// A cell the change does not touch, right in the first round and leaking a moment later
// (a wrong policy opening it), is a leak at once: probing stops and the step fails with
// that round's observations, although the changing cell would have converged.
func TestConvergeFailsAtOnceOnALeakOfAnUnchangedCell(t *testing.T) {
	p, want := plan()
	start := time.Now()
	right := truthFrom(p, want)
	f := &FakeCluster{Truth: func(ns, pod, url string) matrix.Verdict {
		switch {
		case pod == "facade-xyz" && strings.Contains(url, "client") && time.Since(start) < 600*time.Millisecond:
			return matrix.Allowed // the changing cell, converging
		case pod == "client-abc" && strings.Contains(url, "dns") && time.Since(start) > 200*time.Millisecond:
			return matrix.Blocked // unchanged, wrong from 200 ms on
		}
		return right(ns, pod, url)
	}}
	e := &Engine{Exec: f, Timeout: time.Second, Binary: "/star"}
	out, err := e.Converge(context.Background(), p, want, before(want), start, 5*time.Second)
	require.NoError(t, err)
	require.False(t, out.Converged)
	require.Equal(t, []matrix.Mismatch{{Row: "frontend/client", Col: "dns:53/udp", Want: matrix.Allowed, Got: matrix.Blocked}}, out.Leaks)
	require.GreaterOrEqual(t, out.LeakAt, 200*time.Millisecond)
	require.Less(t, out.LeakAt, 600*time.Millisecond, "stopped at the leak, before the changing cell converged")
	v, _ := out.Observed.Get("frontend/client", "dns:53/udp")
	require.Equal(t, matrix.Blocked, v, "the observed matrix is the state at the end")
}

// A changing cell may show its old verdict or its new one on the way, nothing else; a
// cell new to the matrix may be blocked on the way, never allowed where blocked is expected.
func TestConvergeToleratesOnlyTheOldOrTheNewVerdict(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(*matrix.Matrix) *matrix.Matrix
		seen   matrix.Verdict // what facade -> client shows for the first 300 ms
		leak   bool
	}{
		{"old verdict", before, matrix.Allowed, false},
		{"neither old nor new", before, matrix.Refused, true},
		{"new cell, blocked on the way to allowed", nil, matrix.Blocked, false},
		{"new cell, allowed where blocked is expected", nil, matrix.Allowed, true},
		{"new cell, an error while it starts (then right)", nil, matrix.Error, false},
		{"no change at all, old verdict", func(w *matrix.Matrix) *matrix.Matrix { return w }, matrix.Allowed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, want := plan()
			start := time.Now()
			f := &FakeCluster{Truth: facadeToClientFor(p, want, start, 300*time.Millisecond, tc.seen)}
			var b *matrix.Matrix
			if tc.before != nil {
				b = tc.before(want)
			} else {
				b = want.Clone()
				_ = b.Set("backend/facade", "client:9000", matrix.NotProbed) // new: not there before
			}
			e := &Engine{Exec: f, Timeout: time.Second, Binary: "/star"}
			out, err := e.Converge(context.Background(), p, want, b, start, 5*time.Second)
			require.NoError(t, err)
			require.Equal(t, tc.leak, len(out.Leaks) == 1, "leaks: %v", out.Leaks)
			require.Equal(t, !tc.leak, out.Converged)
		})
	}
}

// A changing cell right once and back to its old verdict later is reported as flipped back.
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
	out, err := e.Converge(context.Background(), p, want, before(want), time.Now(), time.Second)
	require.NoError(t, err)
	require.False(t, out.Converged)
	require.Equal(t, []matrix.Cell{{Row: "backend/facade", Col: "client:9000"}}, out.FlippedBack)
	_, settled := out.Settled[matrix.Cell{Row: "backend/facade", Col: "client:9000"}]
	require.False(t, settled)
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
	out, err := e.Converge(context.Background(), p, want, nil, time.Now(), 500*time.Millisecond)
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
	out, err := e.Converge(context.Background(), p, want, nil, time.Now(), 50*time.Millisecond)
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
