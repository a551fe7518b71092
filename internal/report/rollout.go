package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/rollout"
)

// Rollout is a Calico rollout watched by continuous probes of the whole matrix.
type Rollout struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Note says what A and B are (offline: two builds of one source).
	Note       string    `json:"note,omitempty"`
	IntervalMs int64     `json:"intervalMs"`
	Applied    time.Time `json:"applied"`
	// RolledOutMs is apply -> every calico pod updated and ready.
	RolledOutMs  int64 `json:"rolledOutMs"`
	WindowMs     int64 `json:"windowMs"`
	Cells        int   `json:"cells"`
	Observations int   `json:"observations"`
	Leaks        int   `json:"leaks"`
	DownRuns     int   `json:"downRuns"`
	Others       int   `json:"others"`
	// WorstDownMs is the longest an allowed cell was seen down; GapBudgetMs what is allowed.
	WorstDownMs     int64  `json:"worstDownMs"`
	WorstDownCell   string `json:"worstDownCell,omitempty"`
	GapBudgetMs     int64  `json:"gapBudgetMs"`
	LongestHoleMs   int64  `json:"longestHoleMs"`
	LongestHoleCell string `json:"longestHoleCell,omitempty"`
	// ProbeTimeoutMs is the watch's connect timeout; right probes of allowed cells slower
	// than SlowThresholdMs are counted as slow (reported, not failed).
	ProbeTimeoutMs  int64  `json:"probeTimeoutMs"`
	SlowThresholdMs int64  `json:"slowThresholdMs"`
	SlowProbes      int    `json:"slowProbes"`
	SlowestMs       int64  `json:"slowestMs"`
	SlowestCell     string `json:"slowestCell,omitempty"`
	// Versions are what each calico-node said (`calico-node -v`) after the rollout.
	Versions []string `json:"versions,omitempty"`
	// Deviations are the analysis's (those a control caused marked Injected); Timeline is
	// rollout.Timeline's. Both are rendered relative to Applied.
	Deviations []rollout.Deviation `json:"deviations"`
	Timeline   []rollout.Event     `json:"timeline"`
	// Conns are the connections held open through the rollout (one per allowed app
	// cell); ReplyBudgetMs is the longest a reply may take before it is a disruption.
	Conns          []*rollout.Conn `json:"connections,omitempty"`
	ConnIntervalMs int64           `json:"connIntervalMs,omitempty"`
	ReplyBudgetMs  int64           `json:"replyBudgetMs,omitempty"`
	// What Calico's own logs showed during the rollout: the error lines the allowlist
	// does not explain, what it explained, and the pods whose logs were read.
	LogErrors []string    `json:"calicoLogErrors,omitempty"`
	Tolerated []Tolerated `json:"calicoLogTolerated,omitempty"`
	LogPods   []string    `json:"calicoLogPods,omitempty"`
	// Before is what each calico component said before the rollout, ToleratedBefore the
	// log lines the allowlist explained up to then.
	Before          []string    `json:"versionsBefore,omitempty"`
	ToleratedBefore []Tolerated `json:"calicoLogToleratedBefore,omitempty"`
	// Injected is the negative control's result, AdminLoss the admin policies' loss.
	Injected  *Injected  `json:"injected,omitempty"`
	AdminLoss *AdminLoss `json:"adminLoss,omitempty"`
}

// Injected is the negative control: a policy deleted during the rollout and the cells it
// makes allowed meanwhile. Confirmed: the suite reported exactly that leak (LeakRuns on
// the predicted cells) and nothing else.
type Injected struct {
	Deleted   string        `json:"deleted"`
	Predicted []matrix.Cell `json:"predicted"`
	Confirmed bool          `json:"confirmed"`
	LeakRuns  int           `json:"leakRuns,omitempty"`
}

// AdminLoss is the admin policies' loss across a rollout to a Calico that does not
// enforce their form: per predicted cell, the end state's verdict (Want) and the loss's
// (Got). Confirmed: every one changed so once the rollout was done and stayed so.
type AdminLoss struct {
	Predicted []matrix.Mismatch `json:"predicted"`
	Confirmed bool              `json:"confirmed"`
}

// controls are the controls' lines: what they predict and, once judged, what was seen.
func (r *Rollout) controls() []string {
	var out []string
	if i := r.Injected; i != nil {
		for _, c := range i.Predicted {
			out = append(out, fmt.Sprintf("control: deleting %s makes %s -> %s allowed", i.Deleted, c.Row, c.Col))
		}
		if i.Confirmed {
			out = append(out, fmt.Sprintf("control: the suite reported exactly the injected leak: %d leak runs on the %d predicted cells while %s were deleted, nothing else; without the control this rollout would have failed", i.LeakRuns, len(i.Predicted), i.Deleted))
		}
	}
	if l := r.AdminLoss; l != nil {
		for _, m := range l.Predicted {
			kind := rollout.Down
			if m.Got == matrix.Allowed {
				kind = rollout.Leak
			}
			out = append(out, fmt.Sprintf("admin loss: predicted %s %s -> %s (the end state says %s)", kind, m.Row, m.Col, m.Want))
		}
		if l.Confirmed {
			out = append(out, fmt.Sprintf("admin loss: every one of the %d predicted cells changed as predicted once %s rolled out and stayed so to the end; nothing else deviated unexplained", len(l.Predicted), r.To))
		}
	}
	if len(r.Before) > 0 {
		out = append(out, "before: "+strings.Join(r.Before, "; "))
	}
	for _, t := range r.ToleratedBefore {
		out = append(out, t.String())
	}
	return out
}

// ConnSummary is one line about the held connections: how many, exchanges, the worst
// reply gap and its cell, reconnects and disruptions (those of the control apart).
func (r *Rollout) ConnSummary() string {
	if len(r.Conns) == 0 {
		return ""
	}
	exchanges, reconnects, disrupted, injected := 0, 0, 0, 0
	worst := r.Conns[0]
	for _, c := range r.Conns {
		exchanges += c.Exchanges
		reconnects += c.Reconnects
		for _, d := range c.Disruptions {
			if d.Injected {
				injected++
			} else {
				disrupted++
			}
		}
		if c.WorstGap > worst.WorstGap {
			worst = c
		}
	}
	return fmt.Sprintf("%d connections held (a request and its reply every %dms, reply budget %dms): %d exchanges, worst gap between replies %dms (%s -> %s), %d reconnects, %d disruptions (+%d caused by the control)",
		len(r.Conns), r.ConnIntervalMs, r.ReplyBudgetMs, exchanges, worst.WorstGap.Milliseconds(), worst.Cell.Row, worst.Cell.Col, reconnects, disrupted, injected)
}

// Ms is t in milliseconds after the apply (negative: before it).
func (r *Rollout) Ms(t time.Time) int64 { return t.Sub(r.Applied).Milliseconds() }

// Text renders the rollout: the verdict numbers, then the timeline.
func (r *Rollout) Text() string {
	var b strings.Builder
	for _, l := range r.controls() {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	fmt.Fprintf(&b, "rollout %s -> %s", r.From, r.To)
	if r.Note != "" {
		fmt.Fprintf(&b, " (%s)", r.Note)
	}
	fmt.Fprintf(&b, "\n  %d cells probed every %dms per source over %.1fs: %d observations; rolled out %.1fs after apply\n",
		r.Cells, r.IntervalMs, float64(r.WindowMs)/1000, r.Observations, float64(r.RolledOutMs)/1000)
	fmt.Fprintf(&b, "  leaks (denied seen allowed): %d; allowed cells down: %d runs, worst %dms%s (budget %dms); other deviations: %d\n",
		r.Leaks, r.DownRuns, r.WorstDownMs, cellSuffix(r.WorstDownCell), r.GapBudgetMs, r.Others)
	fmt.Fprintf(&b, "  right but slow (> %dms; down means not connected within %dms): %d probes, slowest %dms%s\n",
		r.SlowThresholdMs, r.ProbeTimeoutMs, r.SlowProbes, r.SlowestMs, cellSuffix(r.SlowestCell))
	fmt.Fprintf(&b, "  longest time a cell went unprobed: %dms%s\n", r.LongestHoleMs, cellSuffix(r.LongestHoleCell))
	if cs := r.ConnSummary(); cs != "" {
		fmt.Fprintf(&b, "  %s\n", cs)
	}
	for _, hl := range r.health() {
		fmt.Fprintf(&b, "  calico health: %s\n", hl)
	}
	for _, v := range r.Versions {
		fmt.Fprintf(&b, "  after: %s\n", v)
	}
	b.WriteString("  timeline (s after apply; slow probes are listed in results.json and report.html):\n")
	for _, e := range r.Timeline {
		if e.Kind != "slow" {
			fmt.Fprintf(&b, "  %+9.3fs  %-7s %s\n", float64(r.Ms(e.At))/1000, e.Kind, e.Text)
		}
	}
	return b.String()
}

func cellSuffix(c string) string {
	if c == "" {
		return ""
	}
	return " (" + c + ")"
}

// health is what Calico's logs showed, a line each.
func (r *Rollout) health() []string {
	out := slices.Clone(r.LogErrors)
	for _, t := range r.Tolerated {
		out = append(out, t.String())
	}
	return append(out, fmt.Sprintf("logs read of %d calico pods that lived in the rollout: %s", len(r.LogPods), strings.Join(r.LogPods, ", ")))
}
