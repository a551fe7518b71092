// Package sim is the simulated twin of a cluster: the objects applied so far, answered by
// our evaluator as a dataplane that enforces exactly what it computes, with faults to
// inject. The harness's unit tests run its orchestration on it, without a cluster.
package sim
