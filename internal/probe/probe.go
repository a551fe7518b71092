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
	// Sessions, when set, carries rounds over one long-lived session per source pod
	// (`star check --session`) instead of one exec per source per round. Close ends them.
	Sessions Streamer

	once sync.Once
	ss   *sessions
}

// Close ends the probe sessions.
func (e *Engine) Close() {
	if e.ss != nil {
		e.ss.close()
	}
}

func (e *Engine) sessions() *sessions {
	e.once.Do(func() {
		e.ss = newSessions(e.Sessions, star.Request{Timeout: e.Timeout, DNSTimeout: e.DNSTimeout, Session: true}.Argv(e.Binary))
	})
	return e.ss
}

// via says how a round reaches the pods.
type via int

const (
	viaSession via = iota // the source's session (one exec per source per round without Sessions)
	viaExec               // one exec per source per round, always
)

// Round probes the given cells (all probed cells of want when cells is nil) and returns the
// observed matrix (unprobed cells NotProbed) and per-cell details.
func (e *Engine) Round(ctx context.Context, p Plan, shape *matrix.Matrix, cells []matrix.Cell) (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
	return e.round(ctx, p, shape, cells, e.Timeout, viaSession)
}

// RoundPerSource is Round with one exec per source, sessions or not (the perf baseline).
func (e *Engine) RoundPerSource(ctx context.Context, p Plan, shape *matrix.Matrix) (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
	return e.round(ctx, p, shape, nil, e.Timeout, viaExec)
}

func (e *Engine) round(ctx context.Context, p Plan, shape *matrix.Matrix, cells []matrix.Cell, timeout time.Duration, how via) (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
	if cells == nil {
		cells = shape.ProbedCells()
	}
	byRow := map[string][]string{}
	for _, c := range cells {
		byRow[c.Row] = append(byRow[c.Row], c.Col)
	}
	obs := matrix.New(shape.Rows, shape.Cols, matrix.NotProbed)
	details := map[matrix.Cell]matrix.Result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, src := range p.Sources {
		cols := byRow[src.ID]
		if len(cols) == 0 {
			continue
		}
		wg.Go(func() {
			res := e.probeSource(ctx, p, src, cols, timeout, how)
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

// probeSource probes cols from src in one round: through the source's session, or one
// exec. A failed exec, a session that ended or unreadable output makes every cell of the
// row an error naming the pod, never "blocked".
func (e *Engine) probeSource(ctx context.Context, p Plan, src Source, cols []string, timeout time.Duration, how via) map[string]matrix.Result {
	urls := make([]string, len(cols))
	for i, c := range cols {
		urls[i] = e.targetURL(p, c)
	}
	t0 := time.Now()
	results, err := e.run(ctx, src, urls, timeout, how)
	execMs := time.Since(t0).Milliseconds()
	out := map[string]matrix.Result{}
	for i, c := range cols {
		r := matrix.Result{Verdict: matrix.Error, Detail: fmt.Sprintf("probe from pod %s/%s could not run: %v", src.Namespace, src.Pod, err), URL: urls[i]}
		if err == nil {
			r = results[i]
		}
		r.Cell, r.ExecMillis = matrix.Cell{Row: src.ID, Col: c}, execMs
		out[c] = r
	}
	return out
}

// run gets one result per url, in order.
func (e *Engine) run(ctx context.Context, src Source, urls []string, timeout time.Duration, how via) ([]matrix.Result, error) {
	// Each round gets the check timeout plus room for the API round trip.
	wait := timeout + e.DNSTimeout + 20*time.Second
	if e.Sessions != nil && how == viaSession {
		byURL, err := e.sessions().round(ctx, src, timeout, wait, urls)
		if err != nil {
			return nil, err
		}
		out := make([]matrix.Result, len(urls))
		for i, u := range urls {
			out[i] = byURL[u]
		}
		return out, nil
	}
	ectx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	cmd := append(e.checkCommand(timeout), urls...)
	stdout, stderr, err := e.Exec.Exec(ectx, src.Namespace, src.Pod, src.Container, cmd)
	if err != nil {
		return nil, fmt.Errorf("%w %s", err, strings.TrimSpace(stderr))
	}
	results, err := star.ParseResults(strings.NewReader(stdout))
	if err != nil {
		return nil, err
	}
	if len(results) != len(urls) {
		return nil, fmt.Errorf("star check printed %d results for %d targets (stderr: %s)", len(results), len(urls), strings.TrimSpace(stderr))
	}
	for i, r := range results {
		if r.URL != urls[i] {
			return nil, fmt.Errorf("result %d is for %q, not %q", i, r.URL, urls[i])
		}
	}
	return results, nil
}

// Outcome is a step's probing result.
type Outcome struct {
	// Observed is the last round's matrix (the state at the step's end), Details its
	// per-cell results, Mismatches its cells that differ from the expectation.
	Observed   *matrix.Matrix
	Details    map[matrix.Cell]matrix.Result
	Mismatches []matrix.Mismatch
	// Leaks are the cells seen, in some round, with a verdict the change does not allow
	// them on the way (a cell the change does not touch seen wrong, or a changing cell seen
	// neither as before nor as after): probing stopped at that round, never retried away.
	// LeakAt is when that round started (after since).
	Leaks  []matrix.Mismatch
	LeakAt time.Duration
	// Changing counts the cells the change may converge (their verdict differs from before).
	Changing int
	// Converged: a round matched the expectation before the deadline and the confirming
	// full round matched too.
	Converged bool
	// Latency is the time from start (the apply) to the end of the first round that matched.
	Latency time.Duration
	Rounds  int
	// FirstTry is the mismatch count of the first round.
	FirstTry int
	// RoundTimes is how long each round took (exec round trips included); the last is
	// the confirming round, run with ConfirmTimeout.
	RoundTimes []time.Duration
	// ConfirmTimeout is the confirming round's connection timeout (0: no confirming round).
	ConfirmTimeout time.Duration
	// FirstRight is, per cell, when (after since) a round first showed its expected
	// verdict: the end of that round, probing time included. Settled is, per cell, the
	// start of the first round after which every round showed it right. FlippedBack lists
	// cells seen right and later wrong again.
	FirstRight  map[matrix.Cell]time.Duration
	Settled     map[matrix.Cell]time.Duration
	FlippedBack []matrix.Cell
}

// Converge probes every cell of want in every round until a round matches it, then
// confirms with one more full round at the longer timeout. since is when the change under
// test was applied; before is the state before it (nil: nothing is known before, as when
// pods first come up).
//
// Only the cells the change touches may converge: a cell whose verdict differs from before
// may show its old verdict or its new one on the way; a cell new to the matrix (absent or
// not probed before) may show anything but a flow the expectation does not allow (a new
// pod or Service may be blocked, refused, unresolved or answer oddly while it starts and
// is programmed, never allowed where blocked is expected). Any other wrong cell, in any round, is a leak:
// probing stops at that round and the step fails with its observations.
func (e *Engine) Converge(ctx context.Context, p Plan, want, before *matrix.Matrix, since time.Time, deadline time.Duration) (*Outcome, error) {
	out := &Outcome{FirstRight: map[matrix.Cell]time.Duration{}, Settled: map[matrix.Cell]time.Duration{}}
	for _, c := range want.ProbedCells() {
		if changes(want, before, c) {
			out.Changing++
		}
	}
	var started time.Duration // the last round's start, after since
	round := func(timeout time.Duration) ([]matrix.Mismatch, error) {
		t0 := time.Now()
		started = t0.Sub(since)
		obs, details := e.round(ctx, p, want, nil, timeout, viaSession)
		out.Rounds++
		out.RoundTimes = append(out.RoundTimes, time.Since(t0))
		out.track(want, obs, started, time.Since(since))
		mm, err := matrix.Compare(want, obs)
		out.Observed, out.Details, out.Mismatches = obs, details, mm
		return mm, err
	}
	mm, err := round(e.Timeout)
	if err != nil {
		return nil, err
	}
	out.FirstTry = len(mm)
	end := since.Add(deadline)
	for {
		if out.Leaks = leaks(want, before, mm); len(out.Leaks) > 0 {
			out.LeakAt = started
			return out, nil
		}
		if len(mm) == 0 || !time.Now().Before(end) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		if mm, err = round(e.Timeout); err != nil {
			return nil, err
		}
	}
	if len(mm) == 0 {
		out.Latency = time.Since(since)
		// Confirm: a full round must match too (a cell that flips back is not converged),
		// with the longer timeout: a slow leak is not "blocked".
		out.ConfirmTimeout = max(e.ConfirmTimeout, e.Timeout)
		if mm, err = round(out.ConfirmTimeout); err != nil {
			return nil, err
		}
	}
	out.Converged = len(mm) == 0
	return out, nil
}

// changes reports whether a change from before to want touches cell c.
func changes(want, before *matrix.Matrix, c matrix.Cell) bool {
	if before == nil {
		return true
	}
	w, _ := want.Get(c.Row, c.Col)
	b, ok := before.Get(c.Row, c.Col)
	return !ok || b != w
}

// leaks are the mismatches the change does not allow on the way (see Converge).
func leaks(want, before *matrix.Matrix, mm []matrix.Mismatch) []matrix.Mismatch {
	var out []matrix.Mismatch
	for _, m := range mm {
		c := matrix.Cell{Row: m.Row, Col: m.Col}
		if !changes(want, before, c) {
			out = append(out, m)
			continue
		}
		b, known := matrix.NotProbed, false
		if before != nil {
			b, known = before.Get(c.Row, c.Col)
		}
		switch {
		case known && b != matrix.NotProbed:
			if m.Got != b {
				out = append(out, m) // neither its old verdict nor its new one
			}
		case m.Got == matrix.Allowed:
			// New to the matrix: an allowed flow where blocked is expected is a leak. Any
			// other answer may be a pod or Service still starting (seen live: a new queue
			// pod's HTTP 404 while v2 rolled out); one that lasts fails at the deadline.
			out = append(out, m)
		}
	}
	return out
}

// track records, after a round that started at start and ended at end (both after
// since), which cells first showed their expected verdict, from when each has stayed right,
// and which were right before and are wrong now.
func (out *Outcome) track(want, obs *matrix.Matrix, start, end time.Duration) {
	for _, c := range obs.ProbedCells() {
		w, _ := want.Get(c.Row, c.Col)
		g, _ := obs.Get(c.Row, c.Col)
		_, seen := out.FirstRight[c]
		_, settled := out.Settled[c]
		switch {
		case g == w && !seen:
			out.FirstRight[c], out.Settled[c] = end, start
		case g == w && !settled:
			out.Settled[c] = start
		case g != w:
			delete(out.Settled, c)
			if seen && !slices.Contains(out.FlippedBack, c) {
				out.FlippedBack = append(out.FlippedBack, c)
			}
		}
	}
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
