// Package probe measures a matrix on a live cluster: one exec of `star check` per source
// pod (all sources in parallel, all of a source's targets concurrently inside it). Every
// round probes every cell until a round matches the expectation or a deadline passes, then
// a full round at a longer timeout confirms; only the cells a change touches may converge
// (any other cell seen wrong stops probing as a leak), and it records when each cell took
// its new verdict. The pod
// exec is behind an interface so the engine is tested with a simulated cluster.
package probe
