package report

import (
	"fmt"
	"strings"
	"time"

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
	// Health is what was found in Calico's own logs during the rollout.
	Health []string `json:"calicoHealth,omitempty"`
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
	for _, hl := range r.Health {
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
