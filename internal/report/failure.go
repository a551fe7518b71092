package report

import (
	"fmt"
	"strings"
)

// Failure is why a step failed: each problem seen, in the order seen. A step with a nil
// Failure passed.
type Failure struct {
	Problems []Problem `json:"problems"`
}

// Problem is one thing seen wrong: the phase of the step it was seen in (empty for the
// step's own judgement; "restore", "apply again", a replayed step's name), what, and the
// evidence gathered for it (conntrack entries, repro commands).
type Problem struct {
	Phase    string   `json:"phase,omitempty"`
	What     string   `json:"what"`
	Evidence []string `json:"evidence,omitempty"`
}

func (p Problem) String() string {
	s := p.What
	if p.Phase != "" {
		s = p.Phase + ": " + s
	}
	for _, e := range p.Evidence {
		s += "\n" + e
	}
	return s
}

// String renders the problems a line (or more) each; "" for a nil Failure.
func (f *Failure) String() string {
	if f == nil {
		return ""
	}
	lines := make([]string, len(f.Problems))
	for i, p := range f.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// First is the first problem's text (JUnit's message).
func (f *Failure) First() string {
	if f == nil || len(f.Problems) == 0 {
		return ""
	}
	return f.Problems[0].String()
}

// Problems is an error made of several problems (a rollout's judgement, a dataplane
// check's per-node findings); Fail keeps them apart (not once wrapped: a wrapper's
// message is one problem).
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// Failed reports whether the step failed.
func (s *Step) Failed() bool { return s.Failure != nil && len(s.Failure.Problems) > 0 }

// Fail records err as a problem of the step's own judgement (one per entry of a Problems).
func (s *Step) Fail(err error) { s.FailIn("", err) }

// FailIn records err as a problem seen in phase.
func (s *Step) FailIn(phase string, err error) {
	ps, ok := err.(Problems) //nolint:errorlint // a wrapped Problems reads as its wrapper says
	if !ok {
		ps = Problems{err.Error()}
	}
	for _, p := range ps {
		s.add(Problem{Phase: phase, What: p})
	}
}

// add records one problem.
func (s *Step) add(p Problem) {
	if s.Failure == nil {
		s.Failure = &Failure{}
	}
	s.Failure.Problems = append(s.Failure.Problems, p)
}

// Failf records a problem of the step's own judgement.
func (s *Step) Failf(format string, args ...any) { s.Fail(fmt.Errorf(format, args...)) }

// Evidence attaches lines to the last problem recorded (nothing when the step passed).
func (s *Step) Evidence(lines ...string) {
	if !s.Failed() || len(lines) == 0 {
		return
	}
	last := &s.Failure.Problems[len(s.Failure.Problems)-1]
	last.Evidence = append(last.Evidence, lines...)
}

// FailFrom records a sub-step's problems as seen in phase (a replayed step's name).
func (s *Step) FailFrom(phase string, sub *Step) {
	if !sub.Failed() {
		return
	}
	for _, p := range sub.Failure.Problems {
		p.Phase = strings.TrimSuffix(phase+" "+p.Phase, " ")
		s.add(p)
	}
}

// Failing is a step, named and of kind, that failed with err (a check that could not run).
func Failing(name, kind string, err error) *Step {
	s := &Step{Name: name, Kind: kind}
	s.Fail(err)
	return s
}
