package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/matrix"
)

// The typed results a step may carry besides its truth tables; each renders its own
// lines (Step.Text, the HTML report) and keeps its values in results.json.

// RoundTimes is how long a step's probe rounds took.
type RoundTimes struct {
	N       int           `json:"n"`
	First   time.Duration `json:"firstNs"`
	Slowest time.Duration `json:"slowestNs"`
	Last    time.Duration `json:"lastNs"`
	// ConfirmTimeout is the confirming (last) round's connect timeout: longer than the
	// others', so a slow leak is not blocked (0: no confirming round).
	ConfirmTimeout time.Duration `json:"confirmTimeoutNs,omitempty"`
}

// NewRoundTimes summarises the rounds' durations (nil for none).
func NewRoundTimes(times []time.Duration, confirm time.Duration) *RoundTimes {
	if len(times) == 0 {
		return nil
	}
	r := &RoundTimes{N: len(times), First: times[0], Last: times[len(times)-1], ConfirmTimeout: confirm}
	for _, t := range times {
		r.Slowest = max(r.Slowest, t)
	}
	return r
}

func (r *RoundTimes) lines() []string {
	out := []string{fmt.Sprintf("%d rounds; first %s, slowest %s, last %s", r.N, ms(r.First), ms(r.Slowest), ms(r.Last))}
	if r.ConfirmTimeout > 0 {
		out = append(out, fmt.Sprintf("confirming round with a %s connect timeout (a slow leak is not blocked): %s", r.ConfirmTimeout, ms(r.Last)))
	}
	return out
}

// Change is how the cells a step had to change (their verdict differs from the previous
// step's) took their new verdict: from when each showed it in every round.
type Change struct {
	Cells       int           `json:"cells"`
	Median      time.Duration `json:"medianNs"`
	Slowest     time.Duration `json:"slowestNs"`
	SlowestCell matrix.Cell   `json:"slowestCell"`
	FlippedBack int           `json:"flippedBack"`
}

func (c *Change) lines() []string {
	flipped := "none flipped back"
	if c.FlippedBack > 0 {
		flipped = fmt.Sprintf("%d flipped back", c.FlippedBack)
	}
	return []string{fmt.Sprintf("%d cells had to change: each showed its new verdict in every round from median %s, slowest %s (%s -> %s); %s",
		c.Cells, ms(c.Median), ms(c.Slowest), c.SlowestCell.Row, c.SlowestCell.Col, flipped)}
}

// Deletion is a step's namespace deletion: which, and when the last was gone.
type Deletion struct {
	Namespaces []string      `json:"namespaces"`
	Gone       time.Duration `json:"goneNs"`
}

func (d *Deletion) lines() []string {
	return []string{fmt.Sprintf("namespaces %s deleted and gone after %s", strings.Join(d.Namespaces, ", "), ms(d.Gone))}
}

// Control is a control's result: the cells its variant changes (predicted by the
// evaluator), when the variant showed, and when the step's own matrix came back.
type Control struct {
	Fixture   string            `json:"fixture"`
	Predicted []matrix.Mismatch `json:"predicted"`
	// Enforced is when the variant showed and exactly the predicted cells differed from
	// the fixture (0: not reached); Restored when the fixture matched again (0: not).
	Enforced time.Duration `json:"enforcedNs,omitempty"`
	Restored time.Duration `json:"restoredNs,omitempty"`
}

func (c *Control) lines() []string {
	var out []string
	for _, p := range c.Predicted {
		out = append(out, "predicted change: "+p.String())
	}
	if c.Enforced > 0 {
		out = append(out, fmt.Sprintf("variant enforced after %s; against the unchanged fixture the harness flags exactly the %d predicted cells", ms(c.Enforced), len(c.Predicted)))
	}
	if c.Restored > 0 {
		out = append(out, fmt.Sprintf("originals restored; %s matched again after %s", c.Fixture, ms(c.Restored)))
	}
	return out
}

// Soak is a soak's rounds on one state: how many, how long, and each round that
// differed, with its wrong cells' results (their repro commands).
type Soak struct {
	Rounds      int           `json:"rounds"`
	Cells       int           `json:"cells"`
	ProbeErrors int           `json:"probeErrors"`
	Median      time.Duration `json:"medianNs"`
	Worst       time.Duration `json:"worstNs"`
	Bad         []SoakRound   `json:"bad,omitempty"`
}

// SoakRound is a soak round that differed from the expected matrix.
type SoakRound struct {
	Round      int               `json:"round"`
	Mismatches []matrix.Mismatch `json:"mismatches"`
	Results    []matrix.Result   `json:"results"`
}

func (s *Soak) lines(want *matrix.Matrix) []string {
	var out []string
	for _, r := range s.Bad {
		l := fmt.Sprintf("round %d: %d cells differ:\n", r.Round, len(r.Mismatches))
		if want != nil {
			l += matrix.RenderDiff(want, r.Mismatches)
		}
		for _, d := range r.Results {
			l += fmt.Sprintf("%s -> %s: %s after %dms (%s); repro: %s\n", d.Row, d.Col, d.Verdict, d.Millis, d.Detail, d.Repro)
		}
		out = append(out, strings.TrimSuffix(l, "\n"))
	}
	return append(out, fmt.Sprintf("%d rounds of %d cells: %d rounds with mismatches, %d probe errors; round time median %s, worst %s",
		s.Rounds, s.Cells, len(s.Bad), s.ProbeErrors, ms(s.Median), ms(s.Worst)))
}

// UDPSettle is what a change that denies allowed UDP flows waited for before its matrix
// was judged: a flow a node still tracks is answered, as a stateful filter does.
type UDPSettle struct {
	// Waited is set when the harness cannot read the nodes' conntrack: it waited the
	// dataplane's UDP timeout (Timeout) and more.
	Waited  time.Duration `json:"waitedNs,omitempty"`
	Timeout time.Duration `json:"timeoutNs,omitempty"`
	// Otherwise Sources' nodes were read: the flows the first read found (the longest
	// still to live Longest), the flushes (conntrack -D), and when judging began.
	Sources []string      `json:"sources,omitempty"`
	Flows   int           `json:"flows,omitempty"`
	Longest time.Duration `json:"longestNs,omitempty"`
	Flushes int           `json:"flushes,omitempty"`
	From    time.Duration `json:"fromNs,omitempty"`
	// StillTracked, when set, are flows still tracked when the settle gave up.
	StillTracked []string `json:"stillTracked,omitempty"`
}

func (u *UDPSettle) lines() []string {
	switch {
	case u.Sources == nil:
		return []string{fmt.Sprintf("the change denies UDP flows that were allowed: waiting %s (the dataplane's UDP conntrack timeout %s) before judging", u.Waited, u.Timeout)}
	case u.StillTracked != nil:
		return []string{fmt.Sprintf("the change denies UDP flows that were allowed, but %s after it new flows of theirs are still tracked after %d flushes (the policy not in force?); judging now:\n  %s",
			u.From.Round(time.Second), u.Flushes, strings.Join(u.StillTracked, "\n  "))}
	}
	return []string{fmt.Sprintf("the change denies UDP flows that were allowed: %s's nodes tracked %d flows of theirs to port 53 (the longest for %s more; a lookup on one of their ports is answered, as a stateful filter does); deleted (conntrack -D, %d flushes), judging from %s after the change, once two reads a second apart showed none",
		strings.Join(u.Sources, ", "), u.Flows, u.Longest, u.Flushes, u.From.Round(100*time.Millisecond))}
}

// Health is Calico's health since a mark: its pods now, and the error lines the
// allowlist explained.
type Health struct {
	Since     time.Time         `json:"since"`
	Pods      []calico.PodState `json:"pods,omitempty"`
	Tolerated []Tolerated       `json:"tolerated,omitempty"`
}

// Tolerated counts the calico log lines one allowlist entry explained.
type Tolerated struct {
	Count   int    `json:"count"`
	Pattern string `json:"pattern"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Reason  string `json:"reason"`
}

func (t Tolerated) String() string {
	return fmt.Sprintf("%d calico log line(s) matching %q allowed (%s:%d: %s)", t.Count, t.Pattern, t.File, t.Line, t.Reason)
}

func (h *Health) lines() []string {
	var out []string
	for _, t := range h.Tolerated {
		out = append(out, t.String())
	}
	if h.Pods != nil {
		pods := make([]string, len(h.Pods))
		for i, p := range h.Pods {
			pods[i] = fmt.Sprintf("%s on %s (restarts %d)", p.Name, p.Node, p.Restarts)
		}
		out = append(out, fmt.Sprintf("calico pods since %s: %s", h.Since.UTC().Format(time.RFC3339), strings.Join(pods, ", ")))
	}
	return out
}

// Dataplane is the dataplane check's evidence: what each node holds, and (when every
// node showed it) what proves the dataplane.
type Dataplane struct {
	Want      string                 `json:"want"`
	Nodes     []calico.NodeDataplane `json:"nodes"`
	Workloads int                    `json:"workloadInterfaces"`
	// Evidence is set when every node showed the dataplane: what it showed.
	Evidence string `json:"evidence,omitempty"`
}

func (d *Dataplane) lines() []string {
	var out []string
	for _, n := range d.Nodes {
		out = append(out, n.String())
	}
	if d.Evidence != "" {
		out = append(out, fmt.Sprintf("every node (%d, %d workload interfaces): %s", len(d.Nodes), d.Workloads, d.Evidence))
	}
	return out
}

// lines are the typed results' lines, in the order Text shows them.
func (s *Step) lines() []string {
	out := section(s.AdminForms, (*AdminForms).lines)
	for _, d := range s.Images {
		out = append(out, d.String())
	}
	for _, m := range s.ImageMeasurements {
		out = append(out, m.String())
	}
	out = slices.Concat(out, section(s.RoundTimes, (*RoundTimes).lines), section(s.Change, (*Change).lines), section(s.Deletion, (*Deletion).lines))
	for _, u := range s.UDPSettles {
		out = append(out, u.lines()...)
	}
	return slices.Concat(out,
		section(s.Control, (*Control).lines),
		section(s.Soak, func(k *Soak) []string { return k.lines(s.Expected) }),
		section(s.Health, (*Health).lines),
		section(s.Dataplane, (*Dataplane).lines),
		section(s.Proof, (*Proof).lines),
		section(s.Churn, (*Churn).lines),
		section(s.UI, (*UI).lines),
		section(s.Delivery, (*Delivery).lines),
		section(s.Scale, (*Scale).lines),
		section(s.EnforceBench, (*EnforceBench).lines))
}

// section is a typed result's lines (none when the step has no such result).
func section[T any](r *T, lines func(*T) []string) []string {
	if r == nil {
		return nil
	}
	return lines(r)
}
