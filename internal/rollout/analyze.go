package rollout

import (
	"fmt"
	"slices"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// Kind classifies a deviation.
type Kind string

const (
	// Leak is a cell the policies deny was observed allowed.
	Leak Kind = "leak"
	// Down is a cell the policies allow was observed not allowed.
	Down Kind = "down"
	// Other is a denied cell answered otherwise than by silence (refused, dns-failure,
	// error): not a leak, but the dataplane did not drop as before.
	Other Kind = "other"
	// SlowProbe is a right probe of an allowed cell that took longer than the slow
	// threshold (Analysis.SlowRuns): reported, never a deviation.
	SlowProbe Kind = "slow"
)

// Deviation is a run of consecutive observations of one cell that disagree with the
// expectation.
type Deviation struct {
	Kind Kind           `json:"kind"`
	Cell matrix.Cell    `json:"cell"`
	Want matrix.Verdict `json:"expected"`
	Got  matrix.Verdict `json:"observed"`
	// First and Last are the start times of the run's first and last wrong probes;
	// Until is the start of the next right probe (zero when none came before the end).
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	Until time.Time `json:"until"`
	// FirstEnd is when the first wrong probe ended: what it saw happened by then.
	FirstEnd time.Time `json:"firstEnd"`
	Count    int       `json:"probes"`
	Detail   string    `json:"detail,omitempty"`
	// Injected: a control of the check caused it on purpose (judged by that control).
	Injected bool `json:"injected,omitempty"`
}

// Duration is how long the cell was wrong: from the first wrong probe to the next right
// one (or to end, when it never came back).
func (d Deviation) Duration(end time.Time) time.Duration {
	if d.Until.IsZero() {
		return end.Sub(d.First)
	}
	return d.Until.Sub(d.First)
}

func (d Deviation) String() string {
	return fmt.Sprintf("%s %s -> %s: %s, want %s (%d probes)", d.Kind, d.Cell.Row, d.Cell.Col, d.Got, d.Want, d.Count)
}

// Analysis judges a stream of observations against the expected matrix.
type Analysis struct {
	From, To     time.Time
	Observations int
	// Deviations in the order they started.
	Deviations []Deviation
	// Leaks, DownRuns and Others count the deviations of each kind.
	Leaks, DownRuns, Others int
	// WorstDown is the longest time an allowed cell was seen down (0 when never).
	WorstDown     time.Duration
	WorstDownCell matrix.Cell
	// LongestHole is the longest time a probed cell went without an observation
	// (window edges included): the coverage actually achieved.
	LongestHole     time.Duration
	LongestHoleCell matrix.Cell
	// Unobserved cells were never probed in the window.
	Unobserved []matrix.Cell
	// PerCell counts observations.
	PerCell map[matrix.Cell]int
	// Slow counts allowed cells' probes that were right but took longer than the slow
	// threshold (a connection that needed a SYN retransmission, an answer held up);
	// Slowest is the longest of them.
	Slow        int
	Slowest     time.Duration
	SlowestCell matrix.Cell
	SlowRuns    []Deviation
}

// Analyze judges the observations made in [from, to] against want. Observations of cells
// want does not probe are ignored.
// A right probe of an allowed cell slower than slow is counted (not failed) as slow.
func Analyze(want *matrix.Matrix, obs []matrix.Result, from, to time.Time, slow time.Duration) *Analysis {
	a := &Analysis{From: from, To: to, PerCell: map[matrix.Cell]int{}}
	byCell := map[matrix.Cell][]matrix.Result{}
	for _, o := range obs {
		if o.At.Before(from) || o.At.After(to) {
			continue
		}
		if v, ok := want.Get(o.Row, o.Col); !ok || v == matrix.NotProbed {
			continue
		}
		byCell[o.Cell] = append(byCell[o.Cell], o)
	}
	for _, c := range want.ProbedCells() {
		list := byCell[c]
		if len(list) == 0 {
			a.Unobserved = append(a.Unobserved, c)
			continue
		}
		slices.SortStableFunc(list, func(x, y matrix.Result) int { return x.At.Compare(y.At) })
		a.Observations += len(list)
		a.PerCell[c] = len(list)
		exp, _ := want.Get(c.Row, c.Col)
		a.holes(c, list)
		var run *Deviation
		for _, o := range list {
			if o.Verdict == exp && exp == matrix.Allowed && slow > 0 && time.Duration(o.Millis)*time.Millisecond > slow {
				a.Slow++
				d := time.Duration(o.Millis) * time.Millisecond
				if d > a.Slowest {
					a.Slowest, a.SlowestCell = d, c
				}
				a.SlowRuns = append(a.SlowRuns, Deviation{Kind: SlowProbe, Cell: c, Want: exp, Got: o.Verdict, First: o.At, Last: o.At, FirstEnd: o.At.Add(d), Count: 1, Detail: fmt.Sprintf("right, but took %s", d)})
			}
			if o.Verdict == exp {
				if run != nil {
					run.Until = o.At
					a.add(*run, to)
					run = nil
				}
				continue
			}
			if run == nil {
				run = &Deviation{Kind: kindOf(exp, o.Verdict), Cell: c, Want: exp, Got: o.Verdict, First: o.At, FirstEnd: o.At.Add(time.Duration(o.Millis) * time.Millisecond), Detail: o.Detail}
			}
			run.Last = o.At
			run.Count++
			if o.Verdict == matrix.Allowed && exp != matrix.Allowed {
				// A leak anywhere in the run makes the run a leak.
				run.Kind, run.Got = Leak, matrix.Allowed
			}
		}
		if run != nil {
			a.add(*run, to)
		}
	}
	slices.SortStableFunc(a.Deviations, func(x, y Deviation) int { return x.First.Compare(y.First) })
	return a
}

func kindOf(want, got matrix.Verdict) Kind {
	switch {
	case want == matrix.Allowed:
		return Down
	case got == matrix.Allowed:
		return Leak
	default:
		return Other
	}
}

func (a *Analysis) add(d Deviation, end time.Time) {
	a.Deviations = append(a.Deviations, d)
	switch d.Kind {
	case Leak:
		a.Leaks++
	case Down:
		a.DownRuns++
		if dur := d.Duration(end); dur > a.WorstDown {
			a.WorstDown, a.WorstDownCell = dur, d.Cell
		}
	default:
		a.Others++
	}
}

func (a *Analysis) holes(c matrix.Cell, list []matrix.Result) {
	prev := a.From
	check := func(t time.Time) {
		if h := t.Sub(prev); h > a.LongestHole {
			a.LongestHole, a.LongestHoleCell = h, c
		}
		prev = t
	}
	for _, o := range list {
		check(o.At)
	}
	check(a.To)
}

// Cells returns the distinct cells of the deviations of one kind.
func (a *Analysis) Cells(k Kind) []matrix.Cell {
	var out []matrix.Cell
	for _, d := range a.Deviations {
		if d.Kind == k && !slices.Contains(out, d.Cell) {
			out = append(out, d.Cell)
		}
	}
	return out
}
