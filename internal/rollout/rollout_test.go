package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
)

// want: a -> x allowed, a -> y blocked, b -> x blocked, b -> y allowed.
func wantMatrix(t *testing.T) *matrix.Matrix {
	m := matrix.New([]string{"a", "b"}, []string{"x", "y"}, matrix.Allowed)
	require.NoError(t, m.Set("a", "y", matrix.Blocked))
	require.NoError(t, m.Set("b", "x", matrix.Blocked))
	return m
}

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// steady returns observations of every cell every 250 ms in [0, until) as expected,
// except where override says otherwise.
func steady(want *matrix.Matrix, until int, override func(c matrix.Cell, ms int) (matrix.Verdict, bool)) []matrix.Result {
	var out []matrix.Result
	for ms := 0; ms < until; ms += 250 {
		for _, c := range want.ProbedCells() {
			v, _ := want.Get(c.Row, c.Col)
			if override != nil {
				if o, ok := override(c, ms); ok {
					v = o
				}
			}
			out = append(out, matrix.Result{At: at(ms), Cell: c, Verdict: v})
		}
	}
	return out
}

func TestAnalyzeCleanStream(t *testing.T) {
	want := wantMatrix(t)
	a := Analyze(want, steady(want, 10000, nil), at(0), at(10000), time.Second)
	require.Empty(t, a.Deviations)
	require.Equal(t, 160, a.Observations)
	require.Zero(t, a.WorstDown)
	require.Equal(t, 250*time.Millisecond, a.LongestHole)
	require.Empty(t, a.Unobserved)
}

func TestAnalyzeFindsLeaksGapsAndHoles(t *testing.T) {
	want := wantMatrix(t)
	ax, ay, bx := matrix.Cell{Row: "a", Col: "x"}, matrix.Cell{Row: "a", Col: "y"}, matrix.Cell{Row: "b", Col: "x"}
	obs := steady(want, 10000, func(c matrix.Cell, ms int) (matrix.Verdict, bool) {
		switch {
		case c == ay && ms >= 2000 && ms < 2500: // two probes leak
			return matrix.Allowed, true
		case c == ax && ms >= 4000 && ms < 5000: // down for four probes
			return matrix.Blocked, true
		case c == bx && ms == 7000: // answered instead of dropped
			return matrix.Refused, true
		}
		return 0, false
	})
	// b -> y is not probed between 6 s and 9 s.
	var kept []matrix.Result
	for _, o := range obs {
		if o.Cell == (matrix.Cell{Row: "b", Col: "y"}) && o.At.After(at(6000)) && o.At.Before(at(9000)) {
			continue
		}
		kept = append(kept, o)
	}
	a := Analyze(want, kept, at(0), at(10000), time.Second)
	require.Equal(t, 1, a.Leaks)
	require.Equal(t, 1, a.DownRuns)
	require.Equal(t, 1, a.Others)
	require.Len(t, a.Deviations, 3)
	leak := a.Deviations[0]
	require.Equal(t, Leak, leak.Kind)
	require.Equal(t, ay, leak.Cell)
	require.Equal(t, 2, leak.Count)
	require.Equal(t, at(2000), leak.First)
	require.Equal(t, at(2250), leak.Last)
	require.Equal(t, at(2500), leak.Until)
	down := a.Deviations[1]
	require.Equal(t, Down, down.Kind)
	require.Equal(t, 4, down.Count)
	require.Equal(t, time.Second, a.WorstDown, "down from the first wrong probe to the next right one")
	require.Equal(t, ax, a.WorstDownCell)
	require.Equal(t, Other, a.Deviations[2].Kind)
	require.Equal(t, 3*time.Second, a.LongestHole)
	require.Equal(t, matrix.Cell{Row: "b", Col: "y"}, a.LongestHoleCell)
	require.Equal(t, []matrix.Cell{ay}, a.Cells(Leak))
}

func TestAnalyzeCellThatNeverRecovers(t *testing.T) {
	want := wantMatrix(t)
	ax := matrix.Cell{Row: "a", Col: "x"}
	obs := steady(want, 4000, func(c matrix.Cell, ms int) (matrix.Verdict, bool) {
		return matrix.Blocked, c == ax && ms >= 3000
	})
	a := Analyze(want, obs, at(0), at(5000), time.Second)
	require.Len(t, a.Deviations, 1)
	require.True(t, a.Deviations[0].Until.IsZero())
	require.Equal(t, 2*time.Second, a.WorstDown, "down until the end of the window")
}

func TestAnalyzeReportsUnobservedCellsAndIgnoresOutsideTheWindow(t *testing.T) {
	want := wantMatrix(t)
	obs := []matrix.Result{
		{At: at(100), Cell: matrix.Cell{Row: "a", Col: "x"}, Verdict: matrix.Allowed},
		// Before the window: a leak that does not count.
		{At: at(-100), Cell: matrix.Cell{Row: "a", Col: "y"}, Verdict: matrix.Allowed},
	}
	a := Analyze(want, obs, at(0), at(1000), time.Second)
	require.Zero(t, a.Leaks)
	require.Len(t, a.Unobserved, 3)
}

// fakeStreamer plays `star check --watch` for a source: one line per target every 20 ms
// until stdin closes; "b" ends its first stream early to exercise the restart.
type fakeStreamer struct {
	calls atomic.Int32
	b     atomic.Int32
}

func (f *fakeStreamer) Stream(ctx context.Context, ns, pod, container string, cmd []string, stdin io.Reader, stdout, _ io.Writer) error {
	f.calls.Add(1)
	if !containsAll(cmd, "--watch", "--stdin-stop") {
		return fmt.Errorf("not a watch command: %v", cmd)
	}
	closed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, stdin); close(closed) }()
	targets := cmd[len(cmd)-2:]
	first := pod == "pod-b" && f.b.Add(1) == 1
	for i := 0; ; i++ {
		if first && i == 3 {
			return errors.New("stream reset")
		}
		for _, target := range targets {
			v := matrix.Allowed
			if (pod == "pod-a") == strings.Contains(target, "/y") {
				v = matrix.Blocked
			}
			line, _ := json.Marshal(matrix.Result{URL: target, Verdict: v, At: time.Now()})
			// Write in two pieces: lines may arrive split.
			_, _ = stdout.Write(line[:5])
			_, _ = stdout.Write(append(line[5:], '\n'))
		}
		select {
		case <-closed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestWatcherStreamsEverySourceAndRestartsABrokenStream(t *testing.T) {
	want := wantMatrix(t)
	plan := probe.Plan{
		Sources: []probe.Source{{ID: "a", Namespace: "ns", Pod: "pod-a", Container: "c"}, {ID: "b", Namespace: "ns", Pod: "pod-b", Container: "c"}},
		Targets: []probe.Target{{ID: "x", URL: "http://x/"}, {ID: "y", URL: "http://y/"}},
	}
	fs := &fakeStreamer{}
	w := &Watcher{Stream: fs, Binary: "/star", Interval: 20 * time.Millisecond, Timeout: time.Second}
	from := time.Now()
	s, err := w.Start(context.Background(), plan, want.ProbedCells())
	require.NoError(t, err)
	time.Sleep(1200 * time.Millisecond)
	obs, events := s.Stop()
	to := time.Now()
	require.Len(t, events, 1, "b's first stream ended early")
	require.Equal(t, "b", events[0].Source)
	require.Contains(t, events[0].Err, "stream reset")
	require.Equal(t, int32(3), fs.calls.Load(), "a once, b twice")
	a := Analyze(want, obs, from, to, time.Second)
	require.Empty(t, a.Deviations)
	require.Empty(t, a.Unobserved)
	// b's restart left a hole of about the 500 ms back-off.
	require.Equal(t, "b", a.LongestHoleCell.Row)
	require.Greater(t, a.LongestHole, 400*time.Millisecond)

	_, err = w.Start(context.Background(), plan, []matrix.Cell{{Row: "a", Col: "nope"}})
	require.ErrorContains(t, err, "no such target")
}

func TestTrackerRecordsTheRollout(t *testing.T) {
	pod := func(uid, name string, ready, terminating bool) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Name: name}, Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Image: "reg/calico/node:v2"}}}}
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		if terminating {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}
		return p
	}
	// The poll sequence of one node's calico-node being replaced.
	polls := [][]corev1.Pod{
		{pod("1", "calico-node-old", true, false)},
		{pod("1", "calico-node-old", true, true)},
		{},
		{pod("2", "calico-node-new", false, false)},
		{pod("2", "calico-node-new", true, false)},
	}
	var n atomic.Int32
	tr := &Tracker{Interval: 10 * time.Millisecond, List: func(context.Context) ([]corev1.Pod, error) {
		i := int(n.Add(1)) - 1
		return polls[min(i, len(polls)-1)], nil
	}}
	tr.Start(context.Background())
	time.Sleep(150 * time.Millisecond)
	events := tr.Stop()
	var texts []string
	for _, e := range events {
		texts = append(texts, e.Text)
	}
	require.Equal(t, []string{
		"calico-node-old on node-1 terminating (node:v2)",
		"calico-node-old on node-1 gone",
		"calico-node-new created on node-1 (node:v2)",
		"calico-node-new on node-1 ready",
	}, texts)
}

func TestAnalyzeCountsSlowRightProbes(t *testing.T) {
	want := wantMatrix(t)
	obs := steady(want, 2000, nil)
	for i := range obs {
		if obs[i].Cell == (matrix.Cell{Row: "a", Col: "x"}) && obs[i].At.Equal(at(1000)) {
			obs[i].Millis = 1200 // a SYN retransmission
		}
		if obs[i].Cell == (matrix.Cell{Row: "a", Col: "y"}) {
			obs[i].Millis = 3000 // blocked probes take their timeout: not slow
		}
	}
	a := Analyze(want, obs, at(0), at(2000), time.Second)
	require.Empty(t, a.Deviations)
	require.Equal(t, 1, a.Slow)
	require.Equal(t, 1200*time.Millisecond, a.Slowest)
	require.Equal(t, matrix.Cell{Row: "a", Col: "x"}, a.SlowestCell)
}

func TestStopTwiceReturnsTheSame(t *testing.T) {
	plan := probe.Plan{
		Sources: []probe.Source{{ID: "a", Namespace: "ns", Pod: "pod-a", Container: "c"}},
		Targets: []probe.Target{{ID: "x", URL: "http://x/"}, {ID: "y", URL: "http://y/"}},
	}
	w := &Watcher{Stream: &fakeStreamer{}, Binary: "/star", Interval: 20 * time.Millisecond, Timeout: time.Second}
	s, err := w.Start(context.Background(), plan, []matrix.Cell{{Row: "a", Col: "x"}, {Row: "a", Col: "y"}})
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	first, _ := s.Stop()
	again, _ := s.Stop()
	require.NotEmpty(t, first)
	require.Equal(t, first, again)

	tr := &Tracker{Interval: 10 * time.Millisecond, List: func(context.Context) ([]corev1.Pod, error) { return nil, nil }}
	tr.Start(context.Background())
	require.Equal(t, tr.Stop(), tr.Stop())
}
