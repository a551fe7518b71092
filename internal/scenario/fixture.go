package scenario

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// FixtureHeader starts every fixture file.
const FixtureHeader = "# Declared truth table of step %s: rows are sources (namespace/app), columns are\n# targets (service:port, dns, external). " + matrix.Legend + "\n"

// LoadFixture reads a step's declared matrix and checks it against the step's topology:
// every source and target must exist, and all of them must be there.
func (s *Scenario) LoadFixture(step *Step, st *State) (*matrix.Matrix, error) {
	data, err := os.ReadFile(step.Fixture)
	if err != nil {
		return nil, &FileError{step.Fixture, 0, fmt.Sprintf("step %s needs this fixture (%v): write it by hand from the workshop's text (the format is in docs/checks.md); `go test ./internal/scenario -run TestThreeOraclesAgree -v -args -print-computed` shows what the evaluator computes, to compare with, not to copy unread", step.Name, err)}
	}
	m, err := matrix.Parse(step.Fixture, strings.NewReader(string(data)))
	if err != nil {
		return nil, err
	}
	var rows, cols []string
	for _, src := range st.Sources() {
		rows = append(rows, src.ID)
	}
	targets, err := st.Targets(s)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		cols = append(cols, t.ID)
	}
	header := max(1, matrix.LineOf(string(data), matrix.Corner))
	for _, c := range m.Cols {
		if v4, ok := IsIPv6Column(c); ok && slices.Contains(cols, v4) {
			continue // a column that differs over IPv6, given apart (WithIPv6)
		}
		if !slices.Contains(cols, c) {
			return nil, &FileError{step.Fixture, header, fmt.Sprintf("unknown target %q at step %s (targets are %s)", c, step.Name, strings.Join(cols, " "))}
		}
	}
	for _, r := range m.Rows {
		if !slices.Contains(rows, r) {
			return nil, &FileError{step.Fixture, matrix.LineOf(string(data), r), fmt.Sprintf("unknown source %q at step %s (sources are %s)", r, step.Name, strings.Join(rows, " "))}
		}
	}
	for _, c := range cols {
		if !slices.Contains(m.Cols, c) {
			return nil, &FileError{step.Fixture, header, fmt.Sprintf("target %q is missing from the header", c)}
		}
	}
	for _, r := range rows {
		if !slices.Contains(m.Rows, r) {
			return nil, &FileError{step.Fixture, 0, fmt.Sprintf("source %q has no row", r)}
		}
	}
	return m, nil
}

// FormatFixture renders a matrix as a fixture file of that step.
func FormatFixture(stepName string, m *matrix.Matrix) string {
	return fmt.Sprintf(FixtureHeader, stepName) + matrix.Format(m)
}
