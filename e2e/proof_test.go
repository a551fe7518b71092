package e2e

import (
	"fmt"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/proof"
	"github.com/netpol-e2e/harness/internal/report"
)

// requireLive skips only in -short (unit) mode; `make e2e` never passes -short, and a
// setup failure there fails the run before any test.
func requireLive(t *testing.T) {
	if testing.Short() {
		t.Skip("live suite: run `make e2e`")
	}
}

// record adds a harness result to the report, prints it, and fails the test if it failed.
func record(t *testing.T, rs *report.Step) {
	t.Helper()
	run.Steps = append(run.Steps, rs)
	t.Log("\n" + rs.Text())
	if rs.Failed() {
		failed = true
		t.Errorf("%s: %s", rs.Name, rs.Failure)
	}
}

// TestProof: the cluster built from offline images really carries and polices traffic,
// across nodes, before the workshop starts; and changing a policy disturbs no traffic it
// does not concern.
func TestProof(t *testing.T) {
	requireLive(t)
	testenv.Test(t, proofFeatures()...)
}

func proofFeatures() []features.Feature {
	return []features.Feature{
		checkFeature("cross-node dataplane", "pod to pod by IP and by name; default deny times out; delete restores",
			func() *check.Check { return proof.CrossNode(h, repoRoot) }),
		checkFeature("policy churn", fmt.Sprintf("a policy selecting a applied and deleted %d times: a's new connections to the external host, one every %s, all connect", proof.DefaultChurn.Changes, proof.DefaultChurn.Interval),
			func() *check.Check { return proof.Churn(h, repoRoot, proof.DefaultChurn) }),
	}
}
