// Package check is the one shape of every check (and workshop step) of the harness: a
// setup, an assessment and a teardown recording into one report step, as an
// e2e-framework feature runs them. It holds the step-result boilerplate once: the step
// named and timed, a phase's error recorded as a problem, no assessment after a failed
// setup. It imports only internal/report.
package check
