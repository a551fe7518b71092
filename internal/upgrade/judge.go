package upgrade

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/versions"
)

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
	logProblems, tolerated := h.JudgeLogLines(ro.logLines, gone)
	problems = append(problems, logProblems...)
	r.LogErrors, r.Tolerated, r.LogPods = logProblems, tolerated, ro.logPods
	// The new mark's snapshot also says which pods restarted since the one before.
	restarted, err := h.RemarkCalicoHealthy(ctx, "during the rollout")
	if err != nil {
		restarted = []string{err.Error()}
	}
	for _, r := range restarted {
		problems = append(problems, "calico health: "+r)
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
		r.Injected.Confirmed, r.Injected.LeakRuns = len(problems) == 0, a.Leaks
	}
	if ro.loss != nil {
		lost := ro.loss.judge(a)
		problems = append(problems, lost...)
		if len(lost) == 0 {
			r.AdminLoss.Confirmed = true
		}
	}
	if len(problems) > 0 {
		return report.Problems(problems)
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
		LongestHoleMs: a.LongestHole.Milliseconds(), Versions: ro.versions, Deviations: []rollout.Deviation{},
		ProbeTimeoutMs: spec.ProbeTimeout.Milliseconds(), SlowThresholdMs: ro.h.Cfg.ProbeTimeout.Milliseconds(),
		SlowProbes: a.Slow, SlowestMs: a.Slowest.Milliseconds(),
		SlowestCell: cellNameIf(a.Slow > 0, a.SlowestCell), WorstDownCell: cellNameIf(a.WorstDown > 0, a.WorstDownCell),
		LongestHoleCell: cellNameIf(a.LongestHole > 0, a.LongestHoleCell),
		Before:          ro.before, ToleratedBefore: ro.toleratedBefore,
	}
	if ro.inj != nil {
		r.Injected = &report.Injected{Deleted: ro.inj.name(), Predicted: ro.inj.predicted}
	}
	if ro.loss != nil {
		r.AdminLoss = &report.AdminLoss{Predicted: ro.loss.predicted}
	}
	if ro.hs != nil {
		for _, c := range ro.conns {
			for i, d := range c.Disruptions {
				c.Disruptions[i].Injected = ro.ctl.explains(d)
			}
		}
		r.Conns, r.ConnIntervalMs, r.ReplyBudgetMs = ro.conns, spec.Hold.Interval.Milliseconds(), spec.Hold.ReplyBudget.Milliseconds()
	}
	for _, d := range a.Deviations {
		d.Injected = ro.inj.explainsIf(d, ro.h.Cfg) || ro.loss.explains(d)
		r.Deviations = append(r.Deviations, d)
	}
	r.Timeline = rollout.Timeline(ro.podEvents, ro.events, append(slices.Clone(a.Deviations), a.SlowRuns...), ro.streamEvents)
	return r
}

func cellNameIf(ok bool, c matrix.Cell) string {
	if !ok {
		return ""
	}
	return cellName(c)
}

// judge lists what makes a rollout fail, injected leaks excepted.
func judge(a *rollout.Analysis, real []rollout.Deviation, spec Spec) []string {
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

func cellName(c matrix.Cell) string { return c.Row + " -> " + c.Col }
