package harness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/star"
	"github.com/netpol-e2e/harness/internal/versions"
)

// RolloutSpec is one Calico rollout to watch.
type RolloutSpec struct {
	Name     string
	From, To string // version strings; every calico-node must say To afterwards
	// Note says what From and To are (offline: two builds of one source).
	Note string
	// Manifest is applied to roll Calico; nil restarts calico-node in place.
	Manifest []*unstructured.Unstructured
	// Interval is how often every source probes every target.
	Interval time.Duration
	// ProbeTimeout is the watch's connect timeout: an allowed cell not connected by then
	// is down. Right probes slower than the suite's probe timeout are counted as slow.
	ProbeTimeout time.Duration
	// GapBudget is how long an allowed cell may be seen down (0: never).
	GapBudget time.Duration
	// HoleBudget is the longest a cell may go without a probe starting (probes run on a
	// fixed schedule, overlapping, so this is about Interval on a healthy machine).
	HoleBudget time.Duration
	// Tail is how long probing goes on after the rollout is complete.
	Tail time.Duration
	// Timeout bounds the rollout.
	Timeout time.Duration
	// Inject, for the negative control, are policies ("namespace/name") of the end state
	// deleted during the rollout and restored once their leak was seen.
	Inject []string
	// LosesAdmin says the new Calico enforces none of the admin policies the cluster holds
	// (loss.go): the cells their loss changes must change, and stay so.
	LosesAdmin bool
	// Hold keeps a connection open on every allowed app cell through the rollout
	// (Interval 0: none).
	Hold HoldSpec
	// ControlsAfter is how long after the apply the policy-deletion control acts (0: 5 s,
	// when the rollout is under way), the server restart at twice that (0: 8 s).
	ControlsAfter time.Duration
}

// Rollout rolls Calico while the end state of step end is probed continuously from every
// source and connections are held open on every allowed app cell, and judges everything
// seen: a denied cell seen allowed is a leak, an allowed cell seen down longer than the
// budget is a gap, a cell left unprobed too long is a hole in the proof, a held connection
// broken or answering late is a disruption, and Calico's own error lines count. The
// timeline puts each calico pod's restart next to any deviation.
func (h *Harness) Rollout(ctx context.Context, end int, spec RolloutSpec) *report.Step {
	return h.check(spec.Name, func(rs *report.Step) error {
		ro := &rolloutRun{h: h, spec: spec, rs: rs, st: h.States[end]}
		if spec.ProbeTimeout <= 0 {
			ro.spec.ProbeTimeout = h.Cfg.ProbeTimeout
		}
		defer ro.stop()
		// What must hold, the controls' predictions, and Calico as it is before.
		if err := ro.prepare(ctx, &h.Scenario.Steps[end]); err != nil {
			return err
		}
		// Continuous probes and held connections, each seen right before Calico is touched.
		if err := ro.startTraffic(ctx); err != nil {
			return err
		}
		// Roll Calico (with the controls' injections) and wait until it is rolled out.
		if err := ro.roll(ctx); err != nil {
			return err
		}
		// Stop the traffic and judge everything seen.
		ro.collect()
		return ro.judge(ctx)
	})
}

// rolloutRun is one rollout's state, phase by phase.
type rolloutRun struct {
	h    *Harness
	spec RolloutSpec
	rs   *report.Step
	st   *scenario.State
	want *matrix.Matrix
	plan probe.Plan

	inj  *injection     // the policy-deletion control, if any
	loss *adminLoss     // the admin policies' expected loss, if any
	ctl  *serverRestart // the connection control, if any

	sess    *rollout.Session
	hs      *rollout.HoldSession
	tracker *rollout.Tracker
	logs    *calico.LogFollower // every calico pod's log while the rollout runs

	healthFrom, from, applied, rolledOut, to time.Time
	events                                   []rollout.Event // what the harness did
	versions                                 []string
	errs                                     []string // failures found while rolling

	obs          []matrix.Result
	streamEvents []rollout.StreamEvent
	conns        []*rollout.Conn
	holdEvents   []rollout.StreamEvent
	podEvents    []rollout.Event
	logLines     []calico.LogLine
	logPods      []string
	logErrs      []error
}

func (ro *rolloutRun) note(at time.Time, format string, args ...any) {
	ro.events = append(ro.events, rollout.Event{At: at, Kind: "harness", Text: fmt.Sprintf(format, args...)})
}

func (ro *rolloutRun) prepare(ctx context.Context, step *scenario.Step) error {
	h := ro.h
	var err error
	if ro.want, err = h.expected(step, ro.st); err != nil {
		return err
	}
	if len(ro.spec.Inject) > 0 {
		if ro.inj, err = h.newInjection(ro.st, ro.spec.Inject); err != nil {
			return err
		}
		if ro.spec.ControlsAfter > 0 {
			ro.inj.after = ro.spec.ControlsAfter
		}
		for _, c := range ro.inj.predicted {
			ro.rs.Notes = append(ro.rs.Notes, fmt.Sprintf("control: deleting %s makes %s allowed", ro.inj.name(), cellName(c)))
		}
	}
	if ro.spec.LosesAdmin {
		if ro.loss, err = h.newAdminLoss(ro.st); err != nil {
			return err
		}
		ro.rs.Notes = append(ro.rs.Notes, ro.loss.notes()...)
	}
	if ro.plan, err = h.Plan(ctx, ro.st); err != nil {
		return err
	}
	before, err := calico.Versions(ctx, h.Kube, ro.spec.From)
	if err != nil {
		return fmt.Errorf("before the rollout: %w", err)
	}
	ro.rs.Notes = append(ro.rs.Notes, "before: "+strings.Join(before, "; "))
	// Calico's health up to now: pods neither restarted nor unready since the last mark.
	problems, notes, err := h.calicoProblems(ctx)
	if err == nil && len(problems) > 0 {
		err = errors.New(strings.Join(problems, "\n"))
	}
	if err != nil {
		return fmt.Errorf("calico unhealthy before the rollout: %w", err)
	}
	ro.rs.Notes = append(ro.rs.Notes, notes...)
	ro.healthFrom = time.Now()
	// From here every calico pod's log is followed, the replaced ones to their end.
	ro.logs = calico.NewLogFollower(h.Kube.Clientset(), ro.healthFrom)
	ro.logs.Start(ctx)
	return nil
}

func (ro *rolloutRun) startTraffic(ctx context.Context) error {
	h, spec := ro.h, ro.spec
	// DNS cells on the same clock as the others: a lookup not answered within the
	// rollout's probe timeout is down, as a connection not made by then is.
	w := &rollout.Watcher{Stream: h.Kube, Binary: star.Binary, Interval: spec.Interval, Timeout: spec.ProbeTimeout, DNSTimeout: spec.ProbeTimeout}
	var err error
	if ro.sess, err = w.Start(ctx, ro.plan, ro.want.ProbedCells()); err != nil {
		return err
	}
	// Baseline: every cell observed at least twice before Calico is touched.
	if ro.from, err = baseline(ctx, ro.sess, ro.want, time.Minute); err != nil {
		return err
	}
	if spec.Hold.Interval <= 0 {
		return nil
	}
	held, err := HeldCells(ro.st, h.Scenario, ro.want)
	if err != nil {
		return err
	}
	if spec.Hold.RestartServer != "" {
		if ro.ctl, err = newServerRestart(spec.Hold.RestartServer, held); err != nil {
			return err
		}
		if spec.ControlsAfter > 0 {
			ro.ctl.after = 2 * spec.ControlsAfter
		}
	}
	ro.hs, err = h.startHolds(ctx, spec.Hold, ro.plan, held, time.Minute)
	return err
}

// roll applies B's manifest (or restarts calico-node), runs the controls beside it, waits
// until every calico pod is updated and ready, checks their versions, and keeps the
// traffic going for the tail.
func (ro *rolloutRun) roll(ctx context.Context) error {
	h, spec := ro.h, ro.spec
	ro.tracker = &rollout.Tracker{List: func(ctx context.Context) ([]corev1.Pod, error) { return calico.Pods(ctx, h.Kube.Clientset()) }, Observe: ro.logs.Observe}
	ro.tracker.Start(ctx)
	ro.applied = time.Now()
	if ro.loss != nil {
		ro.loss.applied = ro.applied
	}
	var err error
	if spec.Manifest != nil {
		err = h.Kube.Apply(ctx, spec.Manifest...)
		ro.note(ro.applied, "applied the Calico %s manifest (%d objects)", spec.To, len(spec.Manifest))
	} else {
		err = calico.RestartNode(ctx, h.Kube.Clientset())
		ro.note(ro.applied, "restarted calico-node in place (rolling, %s)", spec.To)
	}
	if err != nil {
		return fmt.Errorf("roll calico to %s: %w", spec.To, err)
	}
	controls := runAll(
		func() error { return ro.ctl.runIf(ctx, h, ro.plan, ro.st, ro.applied) },
		func() error { return ro.inj.runIf(ctx, h, ro.sess, ro.applied) },
	)
	rollErr := calico.WaitRolledOut(ctx, h.Kube, spec.Timeout)
	ro.rolledOut = time.Now()
	ro.note(ro.rolledOut, "rollout complete: every calico pod updated and ready")
	if rollErr == nil {
		ro.versions, rollErr = calico.Versions(ctx, h.Kube, spec.To)
	}
	if rollErr != nil {
		ro.errs = append(ro.errs, rollErr.Error())
	}
	for _, err := range controls() {
		if err != nil {
			ro.errs = append(ro.errs, "control: "+err.Error())
		}
	}
	if ro.inj != nil && !ro.inj.deleted.IsZero() {
		ro.note(ro.inj.deleted, "control: deleted %s", ro.inj.name())
		if !ro.inj.restored.IsZero() {
			ro.note(ro.inj.restored, "control: restored %s", ro.inj.name())
		}
	}
	if ro.ctl != nil && !ro.ctl.at.IsZero() {
		ro.note(ro.ctl.at, "connection control: restarted the server of %s", ro.ctl.col)
	}
	// Keep the traffic going a little: a dataplane that breaks once the last pod is ready counts.
	select {
	case <-ctx.Done():
	case <-time.After(spec.Tail):
	}
	return nil
}

// runAll starts fns at once; the function it returns waits for them and returns their errors.
func runAll(fns ...func() error) func() []error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	return func() []error { wg.Wait(); return errs }
}

// collect stops the traffic and the tracker (at the end of the judged window).
func (ro *rolloutRun) collect() {
	ro.to = time.Now()
	if ro.sess != nil {
		ro.obs, ro.streamEvents = ro.sess.Stop()
	}
	if ro.hs != nil {
		ro.conns, ro.holdEvents = ro.hs.Stop()
		for _, c := range ro.conns {
			for _, d := range c.Disruptions {
				ro.note(d.At, "held connection %s -> %s %s: %s", c.Cell.Row, c.Cell.Col, d.Kind, d.Detail)
			}
		}
	}
	if ro.tracker != nil {
		ro.podEvents = ro.tracker.Stop()
	}
	if ro.logs != nil {
		ro.logLines, ro.logPods, ro.logErrs = ro.logs.Stop()
	}
}

// stop ends whatever still runs after an early return (each Stop may be called again).
func (ro *rolloutRun) stop() {
	if ro.sess != nil {
		ro.sess.Stop()
	}
	if ro.hs != nil {
		ro.hs.Stop()
	}
	if ro.tracker != nil {
		ro.tracker.Stop()
	}
	if ro.logs != nil {
		ro.logs.Stop()
	}
}

// judge analyses everything seen, fills the report and returns what fails.
func (ro *rolloutRun) judge(ctx context.Context) error {
	h, spec := ro.h, ro.spec
	a := rollout.Analyze(ro.want, ro.obs, ro.from, ro.to, h.Cfg.ProbeTimeout)
	r := ro.report(a)
	ro.rs.Rollout = r
	problems := ro.errs
	// During the rollout pods are replaced by design; the error lines of every pod that
	// lived in it count, the replaced ones' to their end. A pod that restarted fails it.
	for _, err := range ro.logErrs {
		problems = append(problems, "calico health: "+err.Error())
	}
	var gone map[string]time.Time
	if ro.tracker != nil {
		gone = ro.tracker.Gone()
	}
	logProblems, notes := h.judgeLogLines(ro.logLines, gone)
	problems = append(problems, logProblems...)
	r.Health = append(slices.Clone(logProblems), notes...)
	r.Health = append(r.Health, fmt.Sprintf("logs read of %d calico pods that lived in the rollout: %s", len(ro.logPods), strings.Join(ro.logPods, ", ")))
	// The new mark's snapshot also says which pods restarted since the one before.
	marked := h.health.pods
	if err := h.MarkCalicoHealthy(ctx); err != nil {
		problems = append(problems, "calico health: "+err.Error())
	} else {
		for _, r := range calico.RestartedSince(marked, h.health.pods, "during the rollout") {
			problems = append(problems, "calico health: "+r)
		}
	}
	var real []rollout.Deviation
	for _, d := range a.Deviations {
		if !ro.inj.explainsIf(d, h.Cfg) && !ro.loss.explains(d) {
			real = append(real, d)
		}
	}
	problems = append(problems, judge(a, real, spec)...)
	if ro.hs != nil {
		problems = append(problems, rollout.JudgeConns(ro.conns, ro.holdEvents, spec.Hold.Disruptions, ro.ctl.explains)...)
	}
	if ro.ctl != nil {
		problems = append(problems, ro.ctl.judge(ro.conns)...)
	}
	if ro.inj != nil {
		problems = append(problems, ro.inj.judge(a, h.Cfg)...)
		if len(problems) == 0 {
			ro.rs.Notes = append(ro.rs.Notes, fmt.Sprintf("control: the suite reported exactly the injected leak: %d leak runs on the %d predicted cells while %s were deleted, nothing else; without the control this rollout would have failed", a.Leaks, len(ro.inj.predicted), ro.inj.name()))
		}
	}
	if ro.loss != nil {
		lost := ro.loss.judge(a)
		problems = append(problems, lost...)
		if len(lost) == 0 {
			ro.rs.Notes = append(ro.rs.Notes, fmt.Sprintf("admin loss: every one of the %d predicted cells changed as predicted once %s rolled out and stayed so to the end; nothing else deviated unexplained", len(ro.loss.predicted), spec.To))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// report renders the analysis, the held connections and the timeline.
func (ro *rolloutRun) report(a *rollout.Analysis) *report.Rollout {
	spec, applied := ro.spec, ro.applied
	r := &report.Rollout{
		From: versions.CalicoLabel(spec.From), To: versions.CalicoLabel(spec.To), Note: spec.Note, IntervalMs: spec.Interval.Milliseconds(), Applied: applied,
		RolledOutMs: ro.rolledOut.Sub(applied).Milliseconds(), WindowMs: ro.to.Sub(ro.from).Milliseconds(),
		Cells: len(ro.want.ProbedCells()), Observations: a.Observations, Leaks: a.Leaks, DownRuns: a.DownRuns, Others: a.Others,
		WorstDownMs: a.WorstDown.Milliseconds(), GapBudgetMs: spec.GapBudget.Milliseconds(),
		LongestHoleMs: a.LongestHole.Milliseconds(), Versions: ro.versions, Deviations: []report.Deviation{},
		ProbeTimeoutMs: spec.ProbeTimeout.Milliseconds(), SlowThresholdMs: ro.h.Cfg.ProbeTimeout.Milliseconds(),
		SlowProbes: a.Slow, SlowestMs: a.Slowest.Milliseconds(),
		SlowestCell: cellNameIf(a.Slow > 0, a.SlowestCell), WorstDownCell: cellNameIf(a.WorstDown > 0, a.WorstDownCell),
		LongestHoleCell: cellNameIf(a.LongestHole > 0, a.LongestHoleCell),
	}
	if ro.hs != nil {
		r.Conns, r.ConnIntervalMs, r.ReplyBudgetMs = connReport(ro.conns, ro.ctl, applied), spec.Hold.Interval.Milliseconds(), spec.Hold.ReplyBudget.Milliseconds()
	}
	ms := func(t time.Time) int64 { return t.Sub(applied).Milliseconds() }
	for _, d := range a.Deviations {
		until := int64(-1)
		if !d.Until.IsZero() {
			until = ms(d.Until)
		}
		r.Deviations = append(r.Deviations, report.Deviation{
			Kind: string(d.Kind), Cell: d.Cell, Expected: d.Want, Observed: d.Got,
			FirstMs: ms(d.First), LastMs: ms(d.Last), UntilMs: until, Probes: d.Count, Detail: d.Detail, Injected: ro.inj.explainsIf(d, ro.h.Cfg) || ro.loss.explains(d),
		})
	}
	r.Timeline = timeline(applied, ro.podEvents, ro.events, append(slices.Clone(a.Deviations), a.SlowRuns...), ro.streamEvents)
	return r
}

func cellNameIf(ok bool, c matrix.Cell) string {
	if !ok {
		return ""
	}
	return cellName(c)
}

// judge lists what makes a rollout fail, injected leaks excepted.
func judge(a *rollout.Analysis, real []rollout.Deviation, spec RolloutSpec) []string {
	var out []string
	for _, c := range a.Unobserved {
		out = append(out, fmt.Sprintf("%s was never probed during the rollout", cellName(c)))
	}
	if a.LongestHole > spec.HoleBudget {
		out = append(out, fmt.Sprintf("%s went %s without a probe starting (budget %s): the rollout was not watched continuously", cellName(a.LongestHoleCell), a.LongestHole.Round(time.Millisecond), spec.HoleBudget))
	}
	for _, d := range real {
		switch {
		case d.Kind == rollout.Leak:
			out = append(out, fmt.Sprintf("LEAK: %s -> %s denied but seen allowed %d times from %s", d.Cell.Row, d.Cell.Col, d.Count, d.First.Format("15:04:05.000")))
		case d.Kind == rollout.Down && d.Duration(a.To) > spec.GapBudget:
			out = append(out, fmt.Sprintf("DOWN: %s -> %s allowed but seen %s for %s (budget %s): %s", d.Cell.Row, d.Cell.Col, d.Got, d.Duration(a.To).Round(time.Millisecond), spec.GapBudget, d.Detail))
		case d.Kind == rollout.Other:
			out = append(out, fmt.Sprintf("CHANGED: %s -> %s denied by silence but seen %s %d times: %s", d.Cell.Row, d.Cell.Col, d.Got, d.Count, d.Detail))
		}
	}
	return out
}

// baseline waits until every cell was observed twice, all as expected, and returns when
// every cell had first been observed (the start of the judged window).
func baseline(ctx context.Context, sess *rollout.Session, want *matrix.Matrix, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	cells := want.ProbedCells()
	for {
		obs := sess.Observations()
		count := map[matrix.Cell]int{}
		first := map[matrix.Cell]time.Time{}
		var wrong []string
		for _, o := range obs {
			count[o.Cell]++
			if _, ok := first[o.Cell]; !ok {
				first[o.Cell] = o.At
			}
			if v, _ := want.Get(o.Row, o.Col); v != o.Verdict {
				wrong = append(wrong, fmt.Sprintf("%s: %s, want %s (%s)", cellName(o.Cell), o.Verdict, v, o.Detail))
			}
		}
		if len(wrong) > 0 {
			return time.Time{}, fmt.Errorf("before touching Calico the end state is not as expected (%d wrong probes), first: %s", len(wrong), wrong[0])
		}
		var from time.Time
		missing := 0
		for _, c := range cells {
			if count[c] < 2 {
				missing++
			}
			if first[c].After(from) {
				from = first[c]
			}
		}
		if missing == 0 {
			return from, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("continuous probes did not cover the matrix within %s: %d of %d cells seen less than twice", timeout, missing, len(cells))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func cellName(c matrix.Cell) string { return c.Row + " -> " + c.Col }

// timeline merges what happened, relative to the apply.
func timeline(applied time.Time, pods, harness []rollout.Event, devs []rollout.Deviation, streams []rollout.StreamEvent) []report.Event {
	all := append(append([]rollout.Event(nil), pods...), harness...)
	for _, d := range devs {
		if d.Kind == rollout.SlowProbe {
			all = append(all, rollout.Event{At: d.First, Kind: string(rollout.SlowProbe), Text: fmt.Sprintf("%s -> %s: %s", d.Cell.Row, d.Cell.Col, d.Detail)})
			continue
		}
		// Placed when it was seen: the end of its first wrong probe. A probe started
		// earlier may have connected only then (a retransmitted SYN), as the controls'
		// leaks show: probes started before the deletion, answered after it.
		text := fmt.Sprintf("%s -> %s: %s, want %s (%d probes, the first started %s earlier", d.Cell.Row, d.Cell.Col, d.Got, d.Want, d.Count, d.FirstEnd.Sub(d.First).Round(time.Millisecond))
		if !d.Until.IsZero() {
			text += fmt.Sprintf(", right again %s later", d.Until.Sub(d.FirstEnd).Round(time.Millisecond))
		}
		all = append(all, rollout.Event{At: d.FirstEnd, Kind: string(d.Kind), Text: text + ")"})
	}
	for _, s := range streams {
		all = append(all, rollout.Event{At: s.At, Kind: "stream", Text: fmt.Sprintf("watch from %s interrupted, restarted: %s", s.Source, s.Err)})
	}
	slices.SortStableFunc(all, func(a, b rollout.Event) int { return a.At.Compare(b.At) })
	out := make([]report.Event, len(all))
	for i, e := range all {
		out[i] = report.Event{Ms: e.At.Sub(applied).Milliseconds(), Kind: e.Kind, Text: e.Text}
	}
	return out
}

// injection is the negative control: policies deleted mid-rollout, then restored.
type injection struct {
	policies          []*networkingv1.NetworkPolicy
	predicted         []matrix.Cell
	udp               bool
	after             time.Duration // after the apply, when the policies are deleted
	deleted, restored time.Time
}

func (h *Harness) newInjection(st *scenario.State, refs []string) (*injection, error) {
	policies, opened, err := st.DeletionOpens(h.Scenario, h.externals(), refs)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	inj := &injection{policies: policies, predicted: opened, after: 5 * time.Second}
	for _, c := range opened {
		inj.udp = inj.udp || strings.HasSuffix(c.Col, "/udp")
	}
	return inj, nil
}

// runIf runs the control when there is one.
func (inj *injection) runIf(ctx context.Context, h *Harness, sess *rollout.Session, applied time.Time) error {
	if inj == nil {
		return nil
	}
	return inj.run(ctx, h, sess, applied)
}

// explainsIf is explains for a control that may be absent.
func (inj *injection) explainsIf(d rollout.Deviation, cfg Config) bool {
	return inj != nil && inj.explains(d, cfg)
}

// ControlAllowance is how long after the negative control's restore its leak may still be
// seen: the restored policies are enforced once Felix programs them, and the control runs
// while calico-node restarts node by node (30-35 s for a new calico-node to be ready here),
// so it is one restart and a margin. UDP cells add the conntrack timeout. A leak of the
// control must end within it; one still seen after it is a failure.
const ControlAllowance = 45 * time.Second

// run deletes the policy once the rollout is under way, waits until every predicted cell
// was seen leaking (or 45 s), restores it, and waits until every predicted cell is seen
// denied again (or the allowance passes), so that the judged window shows whether the
// leak ended. A failed restore is an error.
func (inj *injection) run(ctx context.Context, h *Harness, sess *rollout.Session, applied time.Time) (err error) {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(applied.Add(inj.after))):
	}
	us, err := Unstructured(inj.objects())
	if err != nil {
		return err
	}
	inj.deleted = time.Now()
	if err := h.Kube.Delete(ctx, us...); err != nil {
		return err
	}
	defer func() {
		// Restore in reverse order: an allow policy back before the deny it narrows, so the
		// restore itself denies nothing the end state allows.
		objs := inj.objects()
		slices.Reverse(objs)
		inj.restored = time.Now()
		for _, o := range objs {
			if rerr := h.Apply(context.WithoutCancel(ctx), []scenario.Object{o}); rerr != nil {
				err = errors.Join(err, fmt.Errorf("restore %s/%s: %w", o.Policy.Namespace, o.Policy.Name, rerr))
			}
		}
		inj.waitSeen(ctx, sess, inj.restored, matrix.Blocked, inj.restored.Add(inj.grace(h.Cfg)))
	}()
	inj.waitSeen(ctx, sess, inj.deleted, matrix.Allowed, time.Now().Add(45*time.Second))
	return nil // judge says which predicted cells never leaked
}

// waitSeen waits until every predicted cell was observed with v by a probe that started
// after since, or until the deadline.
func (inj *injection) waitSeen(ctx context.Context, sess *rollout.Session, since time.Time, v matrix.Verdict, deadline time.Time) {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		seen := map[matrix.Cell]bool{}
		for _, o := range sess.Observations() {
			if o.At.After(since) && o.Verdict == v {
				seen[o.Cell] = true
			}
		}
		if !slices.ContainsFunc(inj.predicted, func(c matrix.Cell) bool { return !seen[c] }) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// grace is how long after the restore a leak may still be the control's: the stated
// allowance, plus the UDP conntrack timeout for UDP cells.
func (inj *injection) grace(cfg Config) time.Duration {
	g := ControlAllowance
	if inj.udp {
		g += cfg.ConntrackUDPTimeout
	}
	return g
}

// explains says whether a deviation is the control's leak: one it caused (duringControl),
// over within the allowance after the restore.
func (inj *injection) explains(d rollout.Deviation, cfg Config) bool {
	return inj.duringControl(d) && inj.ended(d, cfg)
}

// duringControl says whether a deviation is a leak on a predicted cell, seen by a probe that
// ended after the deletion, in a control that restored its policies.
func (inj *injection) duringControl(d rollout.Deviation) bool {
	return d.Kind == rollout.Leak && slices.Contains(inj.predicted, d.Cell) && !inj.deleted.IsZero() &&
		!d.FirstEnd.Before(inj.deleted) && !inj.restored.IsZero()
}

// ended says whether a leak stopped within the allowance after the restore.
func (inj *injection) ended(d rollout.Deviation, cfg Config) bool {
	return !d.Until.IsZero() && d.Until.Before(inj.restored.Add(inj.grace(cfg)))
}

// judge requires the suite to have reported the injected leak on exactly the predicted
// cells, each leak over within the allowance after the restore.
func (inj *injection) judge(a *rollout.Analysis, cfg Config) []string {
	var leaked []matrix.Cell
	var out []string
	for _, d := range a.Deviations {
		switch {
		case inj.explains(d, cfg) && !slices.Contains(leaked, d.Cell):
			leaked = append(leaked, d.Cell)
		case inj.duringControl(d) && !inj.ended(d, cfg):
			out = append(out, fmt.Sprintf("control: the injected leak on %s did not end within %s of the restore of %s (the allowance): still leaking", cellName(d.Cell), inj.grace(cfg), inj.name()))
		}
	}
	var missing []string
	for _, c := range inj.predicted {
		if !slices.Contains(leaked, c) {
			missing = append(missing, cellName(c))
		}
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("control: the suite did not report the injected leak on %s (deleted %s)", strings.Join(missing, ", "), inj.name()))
	}
	return out
}

func (inj *injection) objects() []scenario.Object {
	var out []scenario.Object
	for _, p := range inj.policies {
		out = append(out, scenario.Object{File: "control", Policy: p})
	}
	return out
}

func (inj *injection) name() string {
	var names []string
	for _, p := range inj.policies {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	return "policies " + strings.Join(names, ", ")
}
