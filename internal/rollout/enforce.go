package rollout

import (
	"fmt"
	"slices"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// Change is one cell a policy change flips: its verdict before and after.
type Change struct {
	Cell matrix.Cell    `json:"cell"`
	From matrix.Verdict `json:"from"`
	To   matrix.Verdict `json:"to"`
}

// CellLatency is when one changed cell took its new verdict for good, judged from probes
// that start on a fixed schedule whatever the earlier ones still wait for. A probe that
// times out proves "blocked" at its start (every SYN it sent was dropped); one that
// connects proves "allowed" only by its end: a SYN sent at the start and dropped may be
// retransmitted a second later and pass (seen live: a probe started 302 ms before a
// policy's apply connected after it).
type CellLatency struct {
	Change
	// Latency is from the apply call's return to when the cell is proven To for good:
	// for blocked, the start of the first probe after which every probe showed To; for
	// allowed, the earliest end among those probes. With a probe every interval it is
	// within about one interval of the change. Negative: before the call returned.
	Latency time.Duration `json:"latencyNs"`
	// Settled: the cell's last probe showed To (false: it never did for good in the window).
	Settled bool `json:"settled"`
	// Probes are the cell's probes in the window; Flips how often it showed To and then
	// From again before settling.
	Probes int `json:"probes"`
	Flips  int `json:"flips,omitempty"`
	// Wrong lists what cannot happen: a probe proving To before the apply call began
	// (the change was there before it was made), or a verdict that is neither From nor To.
	Wrong []string `json:"wrong,omitempty"`
}

// Enforcement judges each change from the watch's observations (any order): started is
// when the apply call began, applied when it returned. A cell without a probe is reported
// not settled.
func Enforcement(obs []matrix.Result, changes []Change, started, applied time.Time) []CellLatency {
	byCell := map[matrix.Cell][]matrix.Result{}
	for _, o := range obs {
		byCell[o.Cell] = append(byCell[o.Cell], o)
	}
	var out []CellLatency
	for _, ch := range changes {
		rs := byCell[ch.Cell]
		slices.SortFunc(rs, func(a, b matrix.Result) int { return a.At.Compare(b.At) })
		cl := CellLatency{Change: ch, Probes: len(rs)}
		settle := len(rs) // index of the first probe after which all show To
		for i := len(rs) - 1; i >= 0 && rs[i].Verdict == ch.To; i-- {
			settle = i
		}
		sawTo := false
		for _, r := range rs {
			switch {
			case r.Verdict == ch.To && proven(r).Before(started):
				cl.Wrong = append(cl.Wrong, fmt.Sprintf("a probe showed %s %s before the apply began (started %s before it, took %s)", r.Verdict, started.Sub(proven(r)).Round(time.Millisecond), started.Sub(r.At).Round(time.Millisecond), r.Took()))
			case r.Verdict != ch.To && r.Verdict != ch.From:
				cl.Wrong = append(cl.Wrong, fmt.Sprintf("a probe started %s after the apply showed %s (%s), neither %s nor %s", r.At.Sub(applied).Round(time.Millisecond), r.Verdict, r.Detail, ch.From, ch.To))
			}
			if r.Verdict == ch.To {
				sawTo = true
			} else if sawTo {
				cl.Flips++
				sawTo = false
			}
		}
		if settle < len(rs) {
			at := proven(rs[settle])
			for _, r := range rs[settle:] {
				if proven(r).Before(at) {
					at = proven(r)
				}
			}
			cl.Settled, cl.Latency = true, at.Sub(applied)
		}
		out = append(out, cl)
	}
	return out
}

// proven is when a probe proves its verdict: an allowed one by its end, any other at its
// start.
func proven(r matrix.Result) time.Time {
	if r.Verdict == matrix.Allowed {
		return r.At.Add(r.Took())
	}
	return r.At
}

// SettledFor says whether every change's cell has shown To in every probe started during
// the last span of the watch (up to its newest observation): the watch can stop.
func SettledFor(obs []matrix.Result, changes []Change, span time.Duration) bool {
	last := map[matrix.Cell]time.Time{}  // newest probe
	since := map[matrix.Cell]time.Time{} // first probe of the trailing run of To
	want := map[matrix.Cell]matrix.Verdict{}
	for _, ch := range changes {
		want[ch.Cell] = ch.To
	}
	rs := slices.Clone(obs)
	slices.SortFunc(rs, func(a, b matrix.Result) int { return a.At.Compare(b.At) })
	for _, r := range rs {
		to, ok := want[r.Cell]
		if !ok {
			continue
		}
		last[r.Cell] = r.At
		if r.Verdict != to {
			delete(since, r.Cell)
		} else if _, ok := since[r.Cell]; !ok {
			since[r.Cell] = r.At
		}
	}
	for _, ch := range changes {
		s, ok := since[ch.Cell]
		if !ok || last[ch.Cell].Sub(s) < span {
			return false
		}
	}
	return true
}
