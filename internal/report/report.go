package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// Step is one step's (or one check's) result. It holds typed values (matrices, verdicts,
// probe results); text, JSON, JUnit and HTML are rendered from them.
type Step struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "step" or "check"
	// Expected and Observed are the step's truth tables (nil for checks without one).
	Expected *matrix.Matrix `json:"expected,omitempty"`
	Observed *matrix.Matrix `json:"observed,omitempty"`
	// Mismatches are the cells still wrong at the end (set when the step did not converge).
	Mismatches []matrix.Mismatch `json:"mismatches,omitempty"`
	// Results are the last probe of every probed cell, wrong ones with their repro command.
	Results   []matrix.Result `json:"cells,omitempty"`
	Converged bool            `json:"converged"`
	FirstTry  int             `json:"firstTryMismatches"`
	Rounds    int             `json:"rounds"`
	Latency   time.Duration   `json:"enforcementLatencyNs"`
	Duration  time.Duration   `json:"durationNs"`
	Failure   *Failure        `json:"failure,omitempty"`
	// The typed results of the checks that have them (results.go).
	RoundTimes *RoundTimes  `json:"roundTimes,omitempty"`
	Change     *Change      `json:"change,omitempty"`
	Deletion   *Deletion    `json:"deletion,omitempty"`
	UDPSettles []*UDPSettle `json:"udpSettles,omitempty"`
	Control    *Control     `json:"control,omitempty"`
	Soak       *Soak        `json:"soak,omitempty"`
	Health     *Health      `json:"health,omitempty"`
	Dataplane  *Dataplane   `json:"dataplane,omitempty"`
	Proof      *Proof       `json:"proof,omitempty"`
	Churn      *Churn       `json:"churn,omitempty"`
	UI         *UI          `json:"ui,omitempty"`
	// How Calico's images reached the nodes, their measurement, and the admin forms a
	// step changed (images.go).
	Images            []ImageDelivery    `json:"images,omitempty"`
	ImageMeasurements []ImageMeasurement `json:"imageMeasurements,omitempty"`
	AdminForms        *AdminForms        `json:"adminForms,omitempty"`
	// The benchmarks' and the delivery measurement's results (bench.go).
	Delivery     *Delivery     `json:"delivery,omitempty"`
	Scale        *Scale        `json:"scale,omitempty"`
	EnforceBench *EnforceBench `json:"enforceBench,omitempty"`
	// Enforcement is set for policy steps: per changed cell, when it took its new verdict.
	Enforcement *Enforcement `json:"enforcement,omitempty"`
	// Replay is set for a replay of the policy steps on one Calico version; Compared for
	// the check that compares two (A, then B).
	Replay   *Replay   `json:"replay,omitempty"`
	Compared []*Replay `json:"compared,omitempty"`
	// Rollout is set for the upgrade checks.
	Rollout *Rollout `json:"rollout,omitempty"`
	// Peer is set for a peer suite's run, Comparison for the check that sets the
	// workshop beside the peers.
	Peer       *PeerSuite      `json:"peer,omitempty"`
	Comparison *PeerComparison `json:"comparison,omitempty"`
	// Screenshot, when set, is a PNG shown in the HTML report and saved as
	// <name>.png next to it.
	Screenshot []byte `json:"-"`
	// ScreenshotFile is that file's name.
	ScreenshotFile string `json:"screenshot,omitempty"`
}

// expected is the verdict the step expected of a cell (NotProbed without a matrix).
func (s *Step) expected(c matrix.Cell) matrix.Verdict {
	if s.Expected == nil {
		return matrix.NotProbed
	}
	v, _ := s.Expected.Get(c.Row, c.Col)
	return v
}

// timed reports whether the step has a truth table whose enforcement latency counts.
func (s *Step) timed() bool { return s.Kind == "step" && s.Expected != nil }

// Run is a whole run.
type Run struct {
	Suite       string            `json:"suite"`
	Started     time.Time         `json:"started"`
	Finished    time.Time         `json:"finished"`
	Environment map[string]string `json:"environment"`
	Timings     map[string]string `json:"timings"`
	Steps       []*Step           `json:"steps"`
}

// Failed reports whether any step failed.
func (r *Run) Failed() bool {
	return slices.ContainsFunc(r.Steps, (*Step).Failed)
}

// Text renders a step for the terminal.
func (s *Step) Text() string {
	var b strings.Builder
	status := "PASS"
	if s.Failed() {
		status = "FAIL"
	}
	fmt.Fprintf(&b, "=== %s %s", status, s.Name)
	if s.timed() {
		fmt.Fprintf(&b, " (enforcement latency %s, %d rounds, %d cells wrong on first try)", s.Latency.Round(time.Millisecond), s.Rounds, s.FirstTry)
	}
	b.WriteString("\n")
	exp := ""
	if s.Expected != nil {
		exp = matrix.Format(s.Expected)
		fmt.Fprintf(&b, "expected:\n%s", exp)
	}
	if s.Observed != nil {
		if obs := matrix.Format(s.Observed); obs != exp {
			fmt.Fprintf(&b, "observed:\n%s", obs)
		} else {
			b.WriteString("observed: as expected\n")
		}
	}
	if len(s.Mismatches) > 0 && s.Expected != nil {
		fmt.Fprintf(&b, "diff:\n%s", matrix.RenderDiff(s.Expected, s.Mismatches))
		b.WriteString(s.Repros())
	}
	for _, n := range s.lines() {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	if s.Enforcement != nil {
		fmt.Fprintf(&b, "  %s\n", s.Enforcement.Summary())
	}
	if s.Replay != nil {
		b.WriteString(s.Replay.Text())
	}
	if len(s.Compared) > 0 {
		b.WriteString(CompareText(s.Compared))
	}
	if s.Rollout != nil {
		b.WriteString(s.Rollout.Text())
	}
	if s.Peer != nil {
		b.WriteString(s.Peer.Text())
	}
	if s.Comparison != nil {
		b.WriteString(s.Comparison.Text())
	}
	if s.Failed() {
		fmt.Fprintf(&b, "failure: %s\n", s.Failure)
	}
	return b.String()
}

// Repros are the step's repro commands, a line per wrong cell.
func (s *Step) Repros() string {
	var b strings.Builder
	for _, r := range s.Results {
		if r.Repro != "" {
			fmt.Fprintf(&b, "  repro %s -> %s (%s): %s\n", r.Row, r.Col, r.Detail, r.Repro)
		}
	}
	return b.String()
}

// Summary is the run's closing table: each step, its verdict and latency.
func (r *Run) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s %-6s %-10s %-8s %-6s %s\n", "step", "result", "latency", "rounds", "cells", "per-cell p50/p95/max")
	var lat []time.Duration
	for _, s := range r.Steps {
		res := "PASS"
		if s.Failed() {
			res = "FAIL"
		}
		l := "-"
		if s.timed() {
			l = s.Latency.Round(time.Millisecond).String()
			lat = append(lat, s.Latency)
		}
		fine := ""
		if e := s.Enforcement; e != nil {
			p50, p95, worst, _ := e.Quantiles()
			fine = ms(p50) + "/" + ms(p95) + "/" + ms(worst)
		}
		fmt.Fprintf(&b, "%-28s %-6s %-10s %-8d %-6d %s\n", s.Name, res, l, s.Rounds, len(s.Results), fine)
	}
	if len(lat) > 0 {
		fmt.Fprintf(&b, "enforcement latency over %d steps: median %s, worst %s\n", len(lat),
			Median(lat).Round(time.Millisecond), slices.Max(lat).Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "total %s\n", r.Finished.Sub(r.Started).Round(time.Second))
	// The failures last, where a log's tail (all a CI page may keep) still shows them.
	for _, s := range r.Steps {
		if !s.Failed() {
			continue
		}
		lines := strings.Split(s.Failure.String(), "\n")
		if len(lines) > failureLines {
			lines = append(lines[:failureLines], fmt.Sprintf("... %d more lines in summary.txt", len(lines)-failureLines))
		}
		fmt.Fprintf(&b, "FAIL %s:\n  %s\n", s.Name, strings.Join(lines, "\n  "))
	}
	return b.String()
}

// failureLines is how much of a failure the closing summary repeats.
const failureLines = 40

// Write saves results.json, junit.xml and summary.txt into dir.
func (r *Run) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return err
	}
	x, err := r.JUnit()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "junit.xml"), x, 0o644); err != nil {
		return err
	}
	var txt strings.Builder
	for _, s := range r.Steps {
		txt.WriteString(s.Text())
		txt.WriteString("\n")
	}
	txt.WriteString(r.Summary())
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(txt.String()), 0o644); err != nil {
		return err
	}
	for _, st := range r.Steps {
		if len(st.Screenshot) > 0 {
			st.ScreenshotFile = st.Name + ".png"
			if err := os.WriteFile(filepath.Join(dir, st.ScreenshotFile), st.Screenshot, 0o644); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.html"), []byte(r.HTML()), 0o644)
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// JUnit renders one test case per step, and a suite per peer suite with a case per spec
// (the peers' own reports merged into ours).
func (r *Run) JUnit() ([]byte, error) {
	s := junitSuite{Name: r.Suite, Time: secs(r.Finished.Sub(r.Started))}
	var peers []junitSuite
	for _, st := range r.Steps {
		if p := st.Peer; p != nil {
			ps := junitSuite{Name: p.Title(), Time: secs(p.Wall)}
			for _, spec := range p.Specs {
				c := junitCase{Name: spec.Name, Classname: p.Suite, Time: secs(spec.Duration)}
				switch spec.Verdict {
				case PeerFailed:
					c.Failure = &junitFailure{Message: firstLine(spec.Message), Text: spec.Message}
					ps.Failures++
				case PeerSkipped:
					c.Skipped = &junitSkipped{Message: spec.Message}
				}
				ps.Cases = append(ps.Cases, c)
			}
			ps.Tests = len(ps.Cases)
			peers = append(peers, ps)
		}
		c := junitCase{Name: st.Name, Classname: r.Suite + "." + st.Kind, Time: secs(st.Duration), SystemOut: st.Text()}
		if st.Failed() {
			c.Failure = &junitFailure{Message: st.Failure.First(), Text: st.Text()}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	out, err := xml.MarshalIndent(junitSuites{Suites: append([]junitSuite{s}, peers...)}, "", "  ")
	return append([]byte(xml.Header), out...), err
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
