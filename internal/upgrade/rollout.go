package upgrade

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// Rollout rolls Calico while the end state of step end is probed continuously from every
// source and connections are held open on every allowed app cell, and judges everything
// seen: a denied cell seen allowed is a leak, an allowed cell seen down longer than the
// budget is a gap, a cell left unprobed too long is a hole in the proof, a held connection
// broken or answering late is a disruption, and Calico's own error lines count. The
// timeline puts each calico pod's restart next to any deviation.
func Rollout(h *harness.Harness, end int, spec Spec) *check.Check {
	ro := &rolloutRun{h: h, spec: spec, st: h.States[end]}
	if spec.ProbeTimeout <= 0 {
		ro.spec.ProbeTimeout = h.Cfg.ProbeTimeout
	}
	return &check.Check{
		Name: spec.Name, Kind: "check",
		// Setup: what must hold, the controls' predictions, and Calico as it is before;
		// then the continuous probes and held connections, each seen right before Calico
		// is touched.
		Setup: func(ctx context.Context, rs *report.Step) error {
			ro.rs = rs
			if err := ro.prepare(ctx, &h.Scenario.Steps[end]); err != nil {
				return err
			}
			return ro.startTraffic(ctx)
		},
		// Assess: roll Calico (with the controls' injections) and wait until it is rolled
		// out, then stop the traffic and judge everything seen.
		Assess: func(ctx context.Context, _ *report.Step) error {
			if err := ro.roll(ctx); err != nil {
				return err
			}
			ro.collect()
			return ro.judge(ctx)
		},
		// Teardown: the probes, held connections, pod tracker and log followers stopped.
		Teardown: func(context.Context, *report.Step) error {
			ro.stop()
			return nil
		},
	}
}

// rolloutRun is one rollout's state, phase by phase.
type rolloutRun struct {
	h    *harness.Harness
	spec Spec
	rs   *report.Step
	st   *scenario.State
	want *matrix.Matrix
	plan probe.Plan

	// before is what each calico component said before the rollout, toleratedBefore the
	// log lines the allowlist explained up to then.
	before          []string
	toleratedBefore []report.Tolerated

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
