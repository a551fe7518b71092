package proof

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/harnesstest"
	"github.com/netpol-e2e/harness/internal/matrix"
)

// The cross-node proof: allowed, a default deny blocks both ways of reaching b, deleting
// it restores them; a dataplane that keeps leaking fails it.
func TestSimProof(t *testing.T) {
	h, twin := harnesstest.New(t, "../../scenario.yaml")
	ctx := context.Background()
	rs := Run(ctx, h, "../..")
	require.Empty(t, rs.Failure, rs.Text())
	require.Contains(t, rs.Text(), "default-deny ingress applied: blocked by b-by-ip, b-by-name after")

	twin.Leak[matrix.Cell{Row: "netpol-proof/a", Col: "b:8080"}] = true
	rs = Run(ctx, h, "../..")
	require.Contains(t, rs.Failure, "default-deny ingress applied: expected blocked")
}

// On a dual-stack twin the proof also probes over IPv6: b by its IPv6 pod IP, its IPv6
// ClusterIP and by name (AAAA), the external host by its IPv6 address; a leak on the
// IPv6 side alone fails it.
func TestSimProofDualStack(t *testing.T) {
	h, twin := harnesstest.New(t, "../../scenario.yaml")
	twin.Dual, twin.ExternalIPv6 = true, "fc00:f853:ccd:e793::c8"
	h.Cfg.Dual, h.Cfg.ExternalIPv6 = true, twin.ExternalIPv6
	ctx := context.Background()
	rs := Run(ctx, h, "../..")
	require.Empty(t, rs.Failure, rs.Text())
	require.Contains(t, rs.Text(), "default-deny ingress applied: blocked by b-by-ip, b-by-name, b-by-ipv6, b-by-clusterip-ipv6, b-by-name-ipv6; external-by-ipv6 allowed after")

	h.Cfg.ExternalIPv6 = ""
	require.Contains(t, Run(ctx, h, "../..").Failure, "the external host has no IPv6 address")
}
