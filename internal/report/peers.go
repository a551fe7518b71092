package report

import (
	"fmt"
	"html"
	"strings"
	"time"
)

// PeerSuite is one upstream suite run on our cluster, each of its specs with the verdict
// and duration its own report gave (ginkgo's JUnit, go test's -v lines).
type PeerSuite struct {
	Suite    string   `json:"suite"`   // kubernetes-netpol, network-policy-api
	Version  string   `json:"version"` // the module version the binary was built from
	Profiles []string `json:"profiles,omitempty"`
	// Command runs the suite again on the kept cluster (-keep).
	Command string        `json:"command"`
	Wall    time.Duration `json:"wallNs"`
	Specs   []PeerSpec    `json:"specs"`
	// Skips are the specs this run left out, each with why.
	Skips []PeerSkip `json:"skips,omitempty"`
	// Probes counts the connectivity probes the suite logged: the cells it proved (0: the
	// suite logs none, as the conformance suite does not).
	Probes int `json:"probes"`
}

// PeerVerdict is one spec's outcome.
type PeerVerdict string

// The verdicts a peer suite reports.
const (
	PeerPassed  PeerVerdict = "passed"
	PeerFailed  PeerVerdict = "failed"
	PeerSkipped PeerVerdict = "skipped"
)

// PeerSpec is one spec (a ginkgo spec, a go subtest) and its outcome.
type PeerSpec struct {
	Name     string        `json:"name"`
	Verdict  PeerVerdict   `json:"verdict"`
	Duration time.Duration `json:"durationNs"`
	Message  string        `json:"message,omitempty"`
}

// PeerSkip is a set of specs left out (a ginkgo skip expression, a go -run filter) and why.
type PeerSkip struct {
	Specs  string `json:"specs"`
	Reason string `json:"reason"`
}

// Count is the number of specs of each verdict.
func (p *PeerSuite) Count() map[PeerVerdict]int {
	n := map[PeerVerdict]int{}
	for _, s := range p.Specs {
		n[s.Verdict]++
	}
	return n
}

// Failed are the specs that failed.
func (p *PeerSuite) Failed() []PeerSpec {
	var out []PeerSpec
	for _, s := range p.Specs {
		if s.Verdict == PeerFailed {
			out = append(out, s)
		}
	}
	return out
}

// Title names the suite with its version and profiles.
func (p *PeerSuite) Title() string {
	t := p.Suite + " " + p.Version
	if len(p.Profiles) > 0 {
		t += " (" + strings.Join(p.Profiles, ", ") + ")"
	}
	return t
}

// Text renders the suite: a line per spec, the skips, the counts.
func (p *PeerSuite) Text() string {
	var b strings.Builder
	n := p.Count()
	fmt.Fprintf(&b, "  %s: %d passed, %d failed, %d skipped in %s%s\n", p.Title(), n[PeerPassed], n[PeerFailed], n[PeerSkipped], p.Wall.Round(time.Second), p.probes())
	for _, s := range p.Specs {
		fmt.Fprintf(&b, "    %-7s %6.1fs  %s\n", s.Verdict, s.Duration.Seconds(), s.Name)
		if s.Message != "" {
			fmt.Fprintf(&b, "            %s\n", firstLine(s.Message))
		}
	}
	for _, s := range p.Skips {
		fmt.Fprintf(&b, "    left out: %s: %s\n", s.Specs, s.Reason)
	}
	fmt.Fprintf(&b, "    again: %s\n", p.Command)
	return b.String()
}

func (p *PeerSuite) probes() string {
	if p.Probes == 0 {
		return ""
	}
	return fmt.Sprintf("; %d probes", p.Probes)
}

func (p *PeerSuite) html() string {
	var b strings.Builder
	n := p.Count()
	fmt.Fprintf(&b, "<p>%s: %d passed, %d failed, %d skipped in %s%s. Again: <code>%s</code></p><table class=\"t\">",
		html.EscapeString(p.Title()), n[PeerPassed], n[PeerFailed], n[PeerSkipped], p.Wall.Round(time.Second), p.probes(), html.EscapeString(p.Command))
	for _, s := range p.Specs {
		cls := map[PeerVerdict]string{PeerPassed: "pass", PeerFailed: "fail"}[s.Verdict]
		fmt.Fprintf(&b, `<tr><td class="%s">%s</td><td>%.1fs</td><td>%s`, cls, s.Verdict, s.Duration.Seconds(), html.EscapeString(s.Name))
		if s.Message != "" {
			fmt.Fprintf(&b, "<br><small>%s</small>", html.EscapeString(firstLine(s.Message)))
		}
		b.WriteString("</td></tr>")
	}
	for _, s := range p.Skips {
		fmt.Fprintf(&b, "<tr><td>left out</td><td></td><td>%s: %s</td></tr>", html.EscapeString(s.Specs), html.EscapeString(s.Reason))
	}
	b.WriteString("</table>")
	return b.String()
}

// PeerComparison sets the workshop beside a peer suite, both run on one cluster: cells
// proven per minute and wall time.
type PeerComparison struct {
	Rows []ComparisonRow `json:"rows"`
}

// ComparisonRow is one suite's figure: cells proven (the workshop: every probed cell of
// every step's final truth table; a peer: the probes it logged) over its wall time.
type ComparisonRow struct {
	Suite string        `json:"suite"`
	Cells int           `json:"cells"`
	Wall  time.Duration `json:"wallNs"`
}

// PerMinute is the row's cells proven per minute.
func (c ComparisonRow) PerMinute() float64 {
	if c.Wall <= 0 {
		return 0
	}
	return float64(c.Cells) / c.Wall.Minutes()
}

// Text renders the comparison as a table.
func (c *PeerComparison) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %-52s %8s %10s %10s\n", "suite", "cells", "wall", "cells/min")
	for _, r := range c.Rows {
		fmt.Fprintf(&b, "  %-52s %8d %10s %10.0f\n", r.Suite, r.Cells, r.Wall.Round(time.Second), r.PerMinute())
	}
	return b.String()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
