package report

import (
	"fmt"
	"html"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/rollout"
)

// Enforcement is a policy step's per-cell enforcement latency: every cell the step
// changes probed on a fixed schedule (Interval) from before the apply until each showed
// its new verdict for good.
type Enforcement struct {
	Interval time.Duration `json:"intervalNs"`
	// Applied is when the apply call returned (the latencies' zero); Created the API
	// server's creationTimestamp of the newest object the step created (whole seconds:
	// the server stores no finer), zero when it created none.
	Applied time.Time             `json:"applied"`
	Created time.Time             `json:"created,omitzero"`
	Cells   []rollout.CellLatency `json:"cells"`
	// UntimedUDP counts the UDP cells the change closes, which are not timed: conntrack
	// passes a lookup whose source port matches a flow it still tracks (the rounds still
	// judge them).
	UntimedUDP int `json:"untimedUdp,omitempty"`
}

// Quantiles are the settled cells' latencies: p50, p95 and max (nearest rank), and how
// many cells settled.
func (e *Enforcement) Quantiles() (p50, p95, worst time.Duration, n int) {
	var ls []time.Duration
	for _, c := range e.Cells {
		if c.Settled {
			ls = append(ls, c.Latency)
		}
	}
	if len(ls) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(ls)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(ls))+0.999999) - 1
		return ls[max(0, min(i, len(ls)-1))]
	}
	return rank(0.5), rank(0.95), ls[len(ls)-1], len(ls)
}

// Summary is one line: quantiles, resolution, unsettled cells.
func (e *Enforcement) Summary() string {
	p50, p95, worst, n := e.Quantiles()
	s := fmt.Sprintf("enforcement latency of the %d changed cells (probes every %s from before the apply): p50 %s, p95 %s, max %s", len(e.Cells), e.Interval, ms(p50), ms(p95), ms(worst))
	if n < len(e.Cells) {
		s += fmt.Sprintf("; %d never settled", len(e.Cells)-n)
	}
	if e.UntimedUDP > 0 {
		s += fmt.Sprintf("; %d UDP cells it closes not timed (conntrack)", e.UntimedUDP)
	}
	if !e.Created.IsZero() {
		s += fmt.Sprintf("; the API server created the objects at %s, %s before the apply returned (its timestamps have whole seconds)", e.Created.Format(time.TimeOnly), e.Applied.Sub(e.Created).Round(time.Millisecond))
	}
	return s
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// enforcementHTML draws a step's distribution: one bar per cell, sorted, to the scale of
// the slowest step of the run.
func enforcementHTML(e *Enforcement, scale time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<p>%s</p><table class=\"t\">", html.EscapeString(e.Summary()))
	cells := slices.Clone(e.Cells)
	slices.SortFunc(cells, func(a, b rollout.CellLatency) int { return int(a.Latency - b.Latency) })
	for _, c := range cells {
		w, text := 0, "never settled"
		if c.Settled {
			w, text = int(300*max(c.Latency, 0)/max(scale, 1)), ms(c.Latency)
			if c.Flips > 0 {
				text += fmt.Sprintf(" (%d flips back)", c.Flips)
			}
		}
		fmt.Fprintf(&b, `<tr><td>%s &rarr; %s</td><td>%s &rarr; %s</td><td><span class="bar" style="width:%dpx"></span> %s</td></tr>`,
			html.EscapeString(c.Cell.Row), html.EscapeString(c.Cell.Col), c.From, c.To, w, text)
	}
	b.WriteString("</table>")
	return b.String()
}

// Replay is one Calico version's replay of the policy steps on the end state (each step's
// policies deleted and applied again under the enforcement watch).
type Replay struct {
	Version string         `json:"version"`
	Steps   []ReplayedStep `json:"steps"`
}

// ReplayedStep is one policy step's re-apply; Enforcement is nil when deleting its
// policies changes no cell of the end state (later policies decide them all), or when the
// replay of the step Failed.
type ReplayedStep struct {
	Step        string       `json:"step"`
	Enforcement *Enforcement `json:"enforcement,omitempty"`
	Failed      bool         `json:"failed,omitempty"`
}

// Pooled are a replay's quantiles over every settled cell of every step.
type Pooled struct {
	P50, P95, Max time.Duration
	N             int
}

// P95 pools every replayed step's cells.
func (r *Replay) P95() Pooled {
	all := &Enforcement{}
	for _, s := range r.Steps {
		if s.Enforcement != nil {
			all.Cells = append(all.Cells, s.Enforcement.Cells...)
		}
	}
	p50, p95, worst, n := all.Quantiles()
	return Pooled{P50: p50, P95: p95, Max: worst, N: n}
}

// Text is a replay, a line per step.
func (r *Replay) Text() string {
	var b strings.Builder
	for _, s := range r.Steps {
		switch {
		case s.Failed:
			fmt.Fprintf(&b, "  %s on %s: failed (below)\n", s.Step, r.Version)
			continue
		case s.Enforcement == nil:
			fmt.Fprintf(&b, "  %s on %s: deleting its policies changes no cell of the end state\n", s.Step, r.Version)
			continue
		}
		fmt.Fprintf(&b, "  %s on %s: %s\n", s.Step, r.Version, s.Enforcement.Summary())
	}
	p := r.P95()
	fmt.Fprintf(&b, "  all %d replayed cells on %s: p50 %s, p95 %s, max %s\n", p.N, r.Version, ms(p.P50), ms(p.P95), ms(p.Max))
	return b.String()
}

// CompareText sets replays side by side: per step p50/p95/max on each version.
func CompareText(rs []*Replay) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %-24s", "step (p50/p95/max)")
	for _, r := range rs {
		fmt.Fprintf(&b, " %-28s", r.Version)
	}
	b.WriteString("\n")
	for i := range rs[0].Steps {
		fmt.Fprintf(&b, "  %-24s", rs[0].Steps[i].Step)
		for _, r := range rs {
			cell := "-"
			if i < len(r.Steps) && r.Steps[i].Enforcement != nil {
				p50, p95, worst, _ := r.Steps[i].Enforcement.Quantiles()
				cell = ms(p50) + "/" + ms(p95) + "/" + ms(worst)
			}
			fmt.Fprintf(&b, " %-28s", cell)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  %-24s", "all cells")
	for _, r := range rs {
		p := r.P95()
		fmt.Fprintf(&b, " %-28s", fmt.Sprintf("%s/%s/%s (%d)", ms(p.P50), ms(p.P95), ms(p.Max), p.N))
	}
	b.WriteString("\n")
	return b.String()
}
