// Package scenario owns the workshop as data: it loads scenario.yaml (the ordered steps),
// the manifests and policies each step applies, and the fixtures (declared truth tables),
// reporting bad input with file and line. It builds the topology a step leaves behind
// and computes that step's expected matrix with the netpol evaluator.
package scenario
