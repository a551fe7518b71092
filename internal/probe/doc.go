// Package probe measures a matrix on a live cluster: one exec of `star check` per source
// pod (all sources in parallel, all of a source's targets concurrently inside it). It
// re-probes only the cells that differ from the expectation until they match or a deadline
// passes, then confirms with a full round, and records how long enforcement took. The pod
// exec is behind an interface so the engine is tested with a simulated cluster.
package probe
