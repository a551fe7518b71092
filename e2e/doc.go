// Package e2e is the live suite: TestMain owns the environment (kind cluster with Calico,
// the demo image, the external host), each test reads as setup -> assess -> teardown, and
// this is the only package that turns harness results into test failures.
package e2e
