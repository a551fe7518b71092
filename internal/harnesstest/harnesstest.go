// Package harnesstest builds harnesses on the simulated twin (internal/sim) for the unit
// tests of the packages built on internal/harness (upgrade, bench), as net/http/httptest
// does for servers. (internal/harness's own tests keep a copy: they cannot import it.)
package harnesstest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/sim"
)

// New is a harness on a new simulated twin, with the repository's scenario (path from the
// test's package folder) and short timeouts.
func New(t *testing.T, scenarioPath string) (*harness.Harness, *sim.Cluster) {
	t.Helper()
	s, err := scenario.Load(scenarioPath)
	require.NoError(t, err)
	twin := sim.New(s, s.External.IP)
	h, err := harness.New(harness.Config{
		ProbeTimeout: time.Second, DNSTimeout: 5 * time.Second, ConfirmTimeout: 5 * time.Second, ConvergeDeadline: time.Second,
		ExternalIP: s.External.IP, Kubeconfig: "kubeconfig-sim", ReadyTimeout: time.Second,
		Enforce: harness.EnforceSpec{Interval: 10 * time.Millisecond, Settle: 50 * time.Millisecond, Lead: 30 * time.Millisecond, MaxTail: time.Second},
	}, twin, s, io.Discard)
	require.NoError(t, err)
	return h, twin
}

// EndState is New run through the workshop's steps to its end state (step 08), Calico at
// v1 on the twin and its health marked.
func EndState(t *testing.T, scenarioPath string) (*harness.Harness, *sim.Cluster) {
	t.Helper()
	h, twin := New(t, scenarioPath)
	twin.WithCalico(t, "v1")
	ctx := context.Background()
	for i := range 9 {
		require.Empty(t, h.RunStep(ctx, i).Failure)
	}
	require.NoError(t, h.MarkCalicoHealthy(ctx))
	return h, twin
}
