package proof

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/harnesstest"
	"github.com/netpol-e2e/harness/internal/matrix"
)

// The cross-node proof: allowed, a default deny blocks both ways of reaching b, deleting
// it restores them; a dataplane that keeps leaking fails it.
func TestSimProof(t *testing.T) {
	h, twin := harnesstest.New(t, "../../scenario.yaml")
	ctx := context.Background()
	rs := CrossNode(h, "../..").Run(ctx)
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.Contains(t, rs.Text(), "default-deny ingress applied: blocked by b-by-ip, b-by-name after")

	twin.Leak[matrix.Cell{Row: "netpol-proof/a", Col: "b:8080"}] = true
	rs = CrossNode(h, "../..").Run(ctx)
	require.Contains(t, rs.Failure.String(), "default-deny ingress applied: expected blocked")
}

// On a dual-stack twin the proof also probes over IPv6: b by its IPv6 pod IP, its IPv6
// ClusterIP and by name (AAAA), the external host by its IPv6 address; a leak on the
// IPv6 side alone fails it.
func TestSimProofDualStack(t *testing.T) {
	h, twin := harnesstest.New(t, "../../scenario.yaml")
	twin.Dual, twin.ExternalIPv6 = true, "fc00:f853:ccd:e793::c8"
	h.Cfg.Dual, h.Cfg.ExternalIPv6 = true, twin.ExternalIPv6
	ctx := context.Background()
	rs := CrossNode(h, "../..").Run(ctx)
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.Contains(t, rs.Text(), "default-deny ingress applied: blocked by b-by-ip, b-by-name, b-by-ipv6, b-by-clusterip-ipv6, b-by-name-ipv6; external-by-ipv6 allowed after")

	h.Cfg.ExternalIPv6 = ""
	require.Contains(t, CrossNode(h, "../..").Run(ctx).Failure.String(), "the external host has no IPv6 address")
}

// The policy-churn check: a's egress to the external host (each family) stays connected
// while a policy that selects a is applied and deleted; a dataplane that drops new
// connections for a moment after each change (as eBPF with TCX does) fails it, counting
// the changes followed by a loss; on TCX the failure says why.
func TestSimChurn(t *testing.T) {
	h, twin := harnesstest.New(t, "../../scenario.yaml")
	twin.Dual, twin.ExternalIPv6 = true, "fc00:f853:ccd:e793::c8"
	h.Cfg.Dual, h.Cfg.ExternalIPv6 = true, twin.ExternalIPv6
	ctx := context.Background()
	h.Cfg.ProbeTimeout = 100 * time.Millisecond
	spec := ChurnSpec{Changes: 6, Gap: 100 * time.Millisecond, Interval: 10 * time.Millisecond, Lead: 50 * time.Millisecond}
	rs := Churn(h, "../..", spec).Run(ctx)
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.Contains(t, rs.Text(), "6 changes of netpol-proof/default-deny (apply, delete, ...) 100ms apart")
	require.Contains(t, rs.Text(), "probes of a's allowed egress during them: external ")

	// Drops for 90 of each change's 100 ms: a probe every 10 ms lands in each window even
	// on a loaded machine (30 ms missed one under CI's package installs).
	twin.DropAfterChange = 90 * time.Millisecond
	h.Cfg.Dataplane, h.Cfg.BPFAttach = calico.BPF, calico.AttachTCX
	rs = Churn(h, "../..", spec).Run(ctx)
	require.Contains(t, rs.Failure.String(), "a policy change disturbed traffic it does not concern: 6 of 6 changes were followed by a lost connection of a")
	require.Regexp(t, `netpol-proof/a -> external(-by-ipv6)?: blocked \(.*\), probe started \d+ms after change 1 \(apply\)`, rs.Failure.String())
	require.Contains(t, rs.Failure.String(), "after change 2 (delete)")
	require.Contains(t, rs.Failure.String(), "On eBPF with TCX")

	// Too few probes to judge is a failure, not a pass.
	twin.DropAfterChange = 0
	twin.Slow["netpol-proof/a"] = 80 * time.Millisecond
	rs = Churn(h, "../..", spec).Run(ctx)
	require.Contains(t, rs.Failure.String(), "too few to judge")
}
