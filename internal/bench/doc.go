// Package bench holds the two benchmarks built on internal/harness, each in a namespace of
// its own: Scale (N star pods x M target services, timed rounds of the whole matrix) and
// Enforcement (N policies applied one after another, every cell they open timed from its
// own policy's apply under the 100 ms watch). A round or a cell that differs from the
// expectation fails them: a benchmark of wrong answers measures nothing.
package bench
