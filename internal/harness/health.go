package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/report"
)

// healthMark is the moment health was last known good: calico pods' states then, and
// the time from which their logs are still to be read.
type healthMark struct {
	since time.Time
	pods  []calico.PodState
}

// MarkCalicoHealthy records now as the baseline: later checks compare restarts and
// readiness with it and read logs from it.
func (h *Harness) MarkCalicoHealthy(ctx context.Context) error {
	pods, err := calico.Snapshot(ctx, h.Kube.Clientset())
	if err != nil {
		return err
	}
	h.health = &healthMark{since: time.Now(), pods: pods}
	return nil
}

// RemarkCalicoHealthy marks now as the baseline (MarkCalicoHealthy) and returns the calico
// pods that restarted since the previous mark, one line each, said to have restarted during.
func (h *Harness) RemarkCalicoHealthy(ctx context.Context, during string) ([]string, error) {
	var before []calico.PodState
	if h.health != nil {
		before = h.health.pods
	}
	if err := h.MarkCalicoHealthy(ctx); err != nil {
		return nil, err
	}
	return calico.RestartedSince(before, h.health.pods, during), nil
}

// CalicoProblems lists what is wrong with Calico since the mark: a calico pod restarted,
// unready or gone, and every error-level log line the allowlist does not explain;
// tolerated counts what the allowlist explained.
func (h *Harness) CalicoProblems(ctx context.Context) (problems []string, tolerated []report.Tolerated, err error) {
	if h.health == nil {
		return nil, nil, fmt.Errorf("no calico health baseline (MarkCalicoHealthy was not called)")
	}
	now, err := calico.Snapshot(ctx, h.Kube.Clientset())
	if err != nil {
		return nil, nil, err
	}
	problems = calico.CompareStates(h.health.pods, now)
	logProblems, tolerated, err := h.calicoLogProblems(ctx, h.health.since)
	return append(problems, logProblems...), tolerated, err
}

// calicoLogProblems lists the error-level log lines of the current calico pods since a
// moment that the allowlist does not explain, and what it explained.
// (A rollout, which replaces pods, follows every pod's log instead: calico.LogFollower.)
func (h *Harness) calicoLogProblems(ctx context.Context, since time.Time) ([]string, []report.Tolerated, error) {
	lines, err := calico.ErrorLines(ctx, h.Kube.Clientset(), since)
	if err != nil {
		return nil, nil, err
	}
	problems, tolerated := h.JudgeLogLines(lines, nil)
	return problems, tolerated, nil
}

// JudgeLogLines lists the error lines the allowlist does not explain, and counts what it
// explained.
func (h *Harness) JudgeLogLines(lines []calico.LogLine, gone map[string]time.Time) (problems []string, tolerated []report.Tolerated) {
	unexpected, allowed := h.Cfg.CalicoLogAllowlist.Judge(lines, gone)
	for _, l := range unexpected {
		problems = append(problems, "calico error log line: "+l.String())
	}
	for i, n := range allowed {
		e := h.Cfg.CalicoLogAllowlist[i]
		tolerated = append(tolerated, report.Tolerated{Count: n, Pattern: e.Pattern.String(), File: e.File, Line: e.Line, Reason: e.Reason})
	}
	return problems, tolerated
}

// CalicoHealth is the check between rollouts: since the mark, no calico pod
// restarted or went unready, and no error line outside the allowlist was logged.
func (h *Harness) CalicoHealth(name string) *check.Check {
	return check.New(name, func(ctx context.Context, rs *report.Step) error {
		problems, tolerated, err := h.CalicoProblems(ctx)
		if err != nil {
			return err
		}
		rs.Health = &report.Health{Since: h.health.since, Pods: h.health.pods, Tolerated: tolerated}
		if len(problems) > 0 {
			return report.Problems(problems)
		}
		return nil
	})
}
