package probe

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/star"
)

// Execer runs a command in a pod's container.
type Execer interface {
	Exec(ctx context.Context, ns, pod, container string, cmd []string) (stdout, stderr string, err error)
}

// Source is a row: the pod that runs the probes.
type Source struct {
	ID                        string // "namespace/app"
	Namespace, Pod, Container string
}

// Target is a column: what `star check` is told to probe.
type Target struct {
	ID  string
	URL string
}

// Plan is what one step probes.
type Plan struct {
	Sources []Source
	Targets []Target
}

// Engine runs rounds.
type Engine struct {
	Exec Execer
	// Timeout is star check's connection timeout: a connection not made by then is blocked.
	Timeout time.Duration
	// DNSTimeout is star check's name resolution budget (0: star's default).
	DNSTimeout time.Duration
	// ConfirmTimeout is the connection timeout of the confirming round (0: Timeout): longer,
	// so that a flow denied by policy is told from a slow one that a 1 s timeout would
	// count as blocked. A connection that completes in it is allowed, however slow.
	ConfirmTimeout time.Duration
	// Binary is the star binary's path in the image.
	Binary string
	// Kubectl, for repro commands, is how a person reaches the cluster ("kubectl --kubeconfig ...").
	Kubectl string
}

// Detail is one probed cell's raw result.
type Detail struct {
	Verdict matrix.Verdict `json:"verdict"`
	Millis  int64          `json:"ms"`
	Detail  string         `json:"detail,omitempty"`
	URL     string         `json:"url"`
	// ExecMillis is the whole exec's wall time (API round trip included).
	ExecMillis int64 `json:"execMs"`
}

// Round probes the given cells (all probed cells of want when cells is nil) and returns the
// observed matrix (unprobed cells NotProbed) and per-cell details.
func (e *Engine) Round(ctx context.Context, p Plan, shape *matrix.Matrix, cells []matrix.Cell) (*matrix.Matrix, map[matrix.Cell]Detail) {
	return e.round(ctx, p, shape, cells, e.Timeout)
}

func (e *Engine) round(ctx context.Context, p Plan, shape *matrix.Matrix, cells []matrix.Cell, timeout time.Duration) (*matrix.Matrix, map[matrix.Cell]Detail) {
	if cells == nil {
		cells = shape.ProbedCells()
	}
	byRow := map[string][]string{}
	for _, c := range cells {
		byRow[c.Row] = append(byRow[c.Row], c.Col)
	}
	obs := matrix.New(shape.Rows, shape.Cols, matrix.NotProbed)
	details := map[matrix.Cell]Detail{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, src := range p.Sources {
		cols := byRow[src.ID]
		if len(cols) == 0 {
			continue
		}
		wg.Go(func() {
			res := e.probeSource(ctx, p, src, cols, timeout)
			mu.Lock()
			defer mu.Unlock()
			for col, d := range res {
				_ = obs.Set(src.ID, col, d.Verdict)
				details[matrix.Cell{Row: src.ID, Col: col}] = d
			}
		})
	}
	wg.Wait()
	return obs, details
}

func (e *Engine) targetURL(p Plan, col string) string {
	i := slices.IndexFunc(p.Targets, func(t Target) bool { return t.ID == col })
	if i < 0 {
		return ""
	}
	return p.Targets[i].URL
}

// probeSource is one exec: star check against all of cols. A failed exec or unreadable
// output makes every cell of the row an error naming the pod, never "blocked".
func (e *Engine) probeSource(ctx context.Context, p Plan, src Source, cols []string, timeout time.Duration) map[string]Detail {
	urls := make([]string, len(cols))
	for i, c := range cols {
		urls[i] = e.targetURL(p, c)
	}
	cmd := append(e.checkCommand(timeout), urls...)
	out := map[string]Detail{}
	fail := func(msg string) map[string]Detail {
		for i, c := range cols {
			out[c] = Detail{Verdict: matrix.Error, Detail: fmt.Sprintf("probe from pod %s/%s could not run: %s", src.Namespace, src.Pod, msg), URL: urls[i]}
		}
		return out
	}
	// Each exec gets the check timeout plus room for the API round trip.
	ectx, cancel := context.WithTimeout(ctx, timeout+e.DNSTimeout+20*time.Second)
	defer cancel()
	t0 := time.Now()
	stdout, stderr, err := e.Exec.Exec(ectx, src.Namespace, src.Pod, src.Container, cmd)
	execMs := time.Since(t0).Milliseconds()
	defer func() {
		for c, d := range out {
			d.ExecMillis = execMs
			out[c] = d
		}
	}()
	if err != nil {
		return fail(fmt.Sprintf("%v %s", err, strings.TrimSpace(stderr)))
	}
	results, err := star.ParseResults(strings.NewReader(stdout))
	if err != nil {
		return fail(err.Error())
	}
	if len(results) != len(cols) {
		return fail(fmt.Sprintf("star check printed %d results for %d targets (stderr: %s)", len(results), len(cols), strings.TrimSpace(stderr)))
	}
	for i, c := range cols {
		r := results[i]
		if r.Target != urls[i] {
			return fail(fmt.Sprintf("result %d is for %q, not %q", i, r.Target, urls[i]))
		}
		out[c] = Detail{Verdict: r.Verdict, Millis: r.Millis, Detail: r.Detail, URL: r.Target}
	}
	return out
}

// Outcome is a step's probing result.
type Outcome struct {
	Observed   *matrix.Matrix
	Details    map[matrix.Cell]Detail
	Mismatches []matrix.Mismatch
	// Converged: a round matched the expectation before the deadline and the confirming
	// full round matched too.
	Converged bool
	// Latency is the time from start (the apply) to the first round that matched.
	Latency time.Duration
	Rounds  int
	// FirstTry is the mismatch count of the first full round.
	FirstTry int
	// RoundTimes is how long each round took (exec round trips included); the last is
	// the confirming round, run with ConfirmTimeout.
	RoundTimes []time.Duration
	// ConfirmTimeout is the confirming round's connection timeout (0: no confirming round).
	ConfirmTimeout time.Duration
}

// Converge probes until the observation matches want, re-probing only the wrong cells,
// then confirms with one full round. since is when the change under test was applied.
func (e *Engine) Converge(ctx context.Context, p Plan, want *matrix.Matrix, since time.Time, deadline time.Duration) (*Outcome, error) {
	out := &Outcome{}
	round := func(cells []matrix.Cell, timeout time.Duration) (*matrix.Matrix, map[matrix.Cell]Detail) {
		t0 := time.Now()
		m, d := e.round(ctx, p, want, cells, timeout)
		out.Rounds++
		out.RoundTimes = append(out.RoundTimes, time.Since(t0))
		return m, d
	}
	obs, details := round(nil, e.Timeout)
	mm, err := matrix.Compare(want, obs)
	if err != nil {
		return nil, err
	}
	out.FirstTry = len(mm)
	end := since.Add(deadline)
	for len(mm) > 0 && time.Now().Before(end) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		cells := make([]matrix.Cell, len(mm))
		for i, m := range mm {
			cells[i] = matrix.Cell{Row: m.Row, Col: m.Col}
		}
		again, d := round(cells, e.Timeout)
		for _, c := range cells {
			v, _ := again.Get(c.Row, c.Col)
			_ = obs.Set(c.Row, c.Col, v)
			details[c] = d[c]
		}
		if mm, err = matrix.Compare(want, obs); err != nil {
			return nil, err
		}
	}
	if len(mm) == 0 {
		out.Latency = time.Since(since)
		// Confirm: a full round must match too (a cell that flips back is not converged),
		// with the longer timeout: a slow leak is not "blocked".
		out.ConfirmTimeout = max(e.ConfirmTimeout, e.Timeout)
		obs, details = round(nil, out.ConfirmTimeout)
		if mm, err = matrix.Compare(want, obs); err != nil {
			return nil, err
		}
	}
	out.Observed, out.Details, out.Mismatches = obs, details, mm
	out.Converged = len(mm) == 0
	return out, nil
}

// Repro is a command a person can paste to probe one cell again.
func (e *Engine) Repro(p Plan, c matrix.Cell) string {
	i := slices.IndexFunc(p.Sources, func(s Source) bool { return s.ID == c.Row })
	if i < 0 {
		return ""
	}
	s := p.Sources[i]
	kubectl := e.Kubectl
	if kubectl == "" {
		kubectl = "kubectl"
	}
	return fmt.Sprintf("%s exec -n %s %s -c %s -- %s %s", kubectl, s.Namespace, s.Pod, s.Container, strings.Join(e.checkCommand(max(e.ConfirmTimeout, e.Timeout)), " "), e.targetURL(p, c.Col))
}

func (e *Engine) checkCommand(timeout time.Duration) []string {
	return star.Request{Timeout: timeout, DNSTimeout: e.DNSTimeout}.Argv(e.Binary)
}
