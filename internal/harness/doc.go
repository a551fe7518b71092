// Package harness runs the workshop on a live cluster, step by step: apply a step's
// objects, wait for its pods, check that the declared fixture still equals the computed
// matrix, probe until the observation matches, and record a report step. It also runs the
// controls that prove the harness can fail. It returns results and errors; only e2e/
// turns them into test failures.
package harness
