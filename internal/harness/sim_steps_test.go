package harness

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/sim"
)

// simHarness is a harness on the simulated twin, with the repository's scenario.
func simHarness(t *testing.T) (*Harness, *sim.Cluster) {
	t.Helper()
	s, err := scenario.Load("../../scenario.yaml")
	require.NoError(t, err)
	twin := sim.New(s, s.External.IP)
	h, err := New(Config{
		ProbeTimeout: time.Second, DNSTimeout: 5 * time.Second, ConfirmTimeout: 5 * time.Second, ConvergeDeadline: time.Second,
		ExternalIP: s.External.IP, Kubeconfig: "kubeconfig-sim", ReadyTimeout: time.Second, ConntrackUDPTimeout: 0,
		Enforce: EnforceSpec{Interval: 10 * time.Millisecond, Settle: 50 * time.Millisecond, Lead: 30 * time.Millisecond, MaxTail: time.Second},
	}, twin, s, io.Discard)
	require.NoError(t, err)
	return h, twin
}

// endStateOnSim runs the workshop to its end state on the twin, Calico at v1.
func endStateOnSim(t *testing.T) (*Harness, *sim.Cluster) {
	t.Helper()
	h, twin := simHarness(t)
	twin.WithCalico(t, "v1")
	ctx := context.Background()
	for i := range 9 {
		require.Empty(t, h.RunStep(ctx, i).Failure.String())
	}
	require.NoError(t, h.MarkCalicoHealthy(ctx))
	return h, twin
}

// The whole workshop, step by step, with both controls and a soak: the
// orchestration end to end, offline.
func TestSimWorkshopPasses(t *testing.T) {
	h, twin := simHarness(t)
	ctx := context.Background()
	for i, step := range h.Scenario.Steps {
		rs := h.RunStep(ctx, i)
		require.Empty(t, rs.Failure.String(), "%s:\n%s", step.Name, rs.Text())
		if step.Fixture != "" {
			require.True(t, rs.Converged, step.Name)
			require.Zero(t, rs.FirstTry, step.Name)
		}
		switch step.Name {
		case "06-pci-policy":
			rs := h.Control("06-control-pci-without-dns", i, filepath.Join("../..", "policies/controls/pci-policy-without-dns.yaml")).Run(ctx)
			require.Empty(t, rs.Failure.String(), rs.Text())
		case "08-payments-policy":
			rs := h.Control("08-self-check-wrong-policy", i, filepath.Join("../..", "policies/controls/backend-policy-wrong-port.yaml")).Run(ctx)
			require.Empty(t, rs.Failure.String(), rs.Text())
			rs = h.Soak(i, 3).Run(ctx)
			require.Empty(t, rs.Failure.String(), rs.Text())
			rs = h.Verify(i, "after-nothing").Run(ctx)
			require.Empty(t, rs.Failure.String(), rs.Text())
		}
	}
	require.Empty(t, twin.State().Namespaces, "cleanup deleted every namespace")
	require.Positive(t, twin.Rounds, "rounds go through the probe sessions")
	require.Zero(t, twin.Execs, "no exec outside the probe sessions")
}

// A leaking dataplane: the step fails at once on exactly the leaking cell (blocked since
// step 01, not a cell this step changes), with a repro command.
func TestSimLeakFailsTheStepOnThatCell(t *testing.T) {
	h, twin := simHarness(t)
	ctx := context.Background()
	for i := range 8 {
		require.Empty(t, h.RunStep(ctx, i).Failure.String())
	}
	twin.Leak[matrix.Cell{Row: "frontend/client", Col: "payments:6380"}] = true
	rs := h.RunStep(ctx, 8)
	require.Contains(t, rs.Failure.String(), "1 cells seen wrong in the round that started")
	require.Contains(t, rs.Failure.String(), "a leak is never retried")
	require.Equal(t, 1, rs.Rounds, "no second round for a leak")
	require.Contains(t, rs.Text(), "diff:")
	require.Equal(t, []matrix.Mismatch{{Row: "frontend/client", Col: "payments:6380", Want: matrix.Blocked, Got: matrix.Allowed}}, rs.Mismatches)
	var wrong []string
	for _, c := range rs.Results {
		if c.Repro != "" {
			wrong = append(wrong, c.Row+" -> "+c.Col+": "+c.Repro)
		}
	}
	require.Len(t, wrong, 1)
	require.Contains(t, wrong[0], "frontend/client -> payments:6380: kubectl --kubeconfig kubeconfig-sim exec -n frontend client-sim -c star -- /star check --timeout 5s --dns-timeout 5s http://payments.pci.svc.cluster.local.:6380/status")
}

// A pod whose exec fails is a broken test naming the pod, never a policy verdict.
func TestSimDeadExecIsABrokenTest(t *testing.T) {
	h, twin := simHarness(t)
	ctx := context.Background()
	require.Empty(t, h.RunStep(ctx, 0).Failure.String())
	twin.DeadPod["backend/facade-sim"] = true
	rs := h.RunStep(ctx, 1)
	require.Contains(t, rs.Failure.String(), "broken test")
	require.True(t, strings.Contains(rs.Text(), "probe from pod backend/facade-sim could not run"), rs.Text())
}

// A control whose variant changes nothing the live cluster shows must fail: here the
// dataplane ignores the variant's effect (the cell stays allowed by a leak).
func TestSimControlFailsWhenThePredictedChangeDoesNotShow(t *testing.T) {
	h, twin := simHarness(t)
	ctx := context.Background()
	for i := range 9 {
		require.Empty(t, h.RunStep(ctx, i).Failure.String())
	}
	twin.Leak[matrix.Cell{Row: "backend/facade", Col: "backend:6379"}] = true
	c := h.Control("08-self-check-wrong-policy", 8, filepath.Join("../..", "policies/controls/backend-policy-wrong-port.yaml"))
	c.RunSetup(ctx)
	require.Empty(t, c.Report().Failure.String())
	require.Equal(t, int32(6380), twin.Pols["backend/backend-policy"].Spec.Ingress[0].Ports[0].Port.IntVal, "setup applied the variant")
	c.RunAssess(ctx)
	require.Contains(t, c.Report().Failure.String(), "cells differ from the expectation", c.Report().Text())
	// The teardown restores the originals even after the failed assessment.
	rs := c.RunTeardown(ctx)
	require.Equal(t, int32(6379), twin.Pols["backend/backend-policy"].Spec.Ingress[0].Ports[0].Port.IntVal, "restore put the original back")
	require.Contains(t, rs.Text(), "originals restored; ../../fixtures/08-payments-policy.txt matched again")
	require.Positive(t, rs.Duration)
}

// The control's last check, "exactly the predicted cells", fails when the cells the
// harness flags against the unchanged fixture are not the predicted ones (here the
// prediction is emptied).
func TestSimControlExactlyThePredictedCellsCanFail(t *testing.T) {
	h, _ := simHarness(t)
	ctx := context.Background()
	for i := range 9 {
		require.Empty(t, h.RunStep(ctx, i).Failure.String())
	}
	c, ck := h.newControl("08-self-check-wrong-policy", 8, filepath.Join("../..", "policies/controls/backend-policy-wrong-port.yaml"))
	ck.RunSetup(ctx)
	require.Empty(t, ck.Report().Failure.String())
	require.Len(t, c.pred.Changed, 1)
	rs := &report.Step{Name: "short-prediction"}
	h.assessVariant(ctx, rs, c.step, c.pred.After, c.fixture, c.pred.Want, nil, c.applied)
	require.Contains(t, rs.Failure.String(), "the harness flagged 1 cells, the variant changes 0")
	require.Empty(t, ck.RunTeardown(ctx).Failure.String(), ck.Report().Text())
}

// A step that rolls out a Deployment (05 replaces the management UI with v2) may find its
// cells blocked on the way, although their verdict does not change; a cell of a pod the
// step does not touch may not.
func TestSimReplacedPodsMayConvergeOthersMayNot(t *testing.T) {
	h, twin := simHarness(t)
	ctx := context.Background()
	for i := range 5 {
		require.Empty(t, h.RunStep(ctx, i).Failure.String())
	}
	twin.Mu.Lock()
	twin.Unreachable[matrix.Cell{Row: "frontend/client", Col: "management-ui:9001"}] = 1
	twin.Mu.Unlock()
	rs := h.RunStep(ctx, 5)
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.Positive(t, rs.FirstTry)

	h2, twin2 := simHarness(t)
	for i := range 5 {
		require.Empty(t, h2.RunStep(ctx, i).Failure.String())
	}
	twin2.Mu.Lock()
	twin2.Unreachable[matrix.Cell{Row: "frontend/client", Col: "facade:80"}] = 1
	twin2.Mu.Unlock()
	rs = h2.RunStep(ctx, 5)
	require.Contains(t, rs.Failure.String(), "frontend/client -> facade:80: expected . (allowed), observed X (blocked)", rs.Text())
}

// The peer engine judges the policies as the API server holds them: a server that changed
// one (here, a mutating webhook moving backend-policy's port) fails the next step, naming
// the cell, although the dataplane still does what the files say.
func TestSimPeerJudgesThePoliciesTheServerHolds(t *testing.T) {
	h, twin := simHarness(t)
	ctx := context.Background()
	for i := range 4 {
		require.Empty(t, h.RunStep(ctx, i).Failure.String())
	}
	api := twin.Clientset().NetworkingV1().NetworkPolicies("backend")
	p, err := api.Get(ctx, "backend-policy", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, p.Spec.PolicyTypes)
	p.Spec.Ingress[0].Ports[0].Port.IntVal = 6380
	_, err = api.Update(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
	rs := h.RunStep(ctx, 4)
	require.Contains(t, rs.Failure.String(), "on the policies as the API server holds them, the peer engine (cyclonus) disagrees with the expectation")
	require.Contains(t, rs.Failure.String(), "backend/facade -> backend:6379: expected . (allowed), observed X (blocked)")
}

// Each step says from when the cells it had to change showed their new verdict.
func TestSimStepReportsPerCellEnforcementLatency(t *testing.T) {
	h, _ := simHarness(t)
	ctx := context.Background()
	require.Empty(t, h.RunStep(ctx, 0).Failure.String())
	rs := h.RunStep(ctx, 1)
	require.Contains(t, rs.Text(), "9 cells had to change: each showed its new verdict in every round from median")
	require.Contains(t, rs.Text(), "none flipped back")
}

// A variant that changes nothing proves nothing: the control refuses it before applying it.
func TestSimControlRefusesAVariantThatChangesNothing(t *testing.T) {
	h, twin := simHarness(t)
	ctx := context.Background()
	for i := range 9 {
		require.Empty(t, h.RunStep(ctx, i).Failure.String())
	}
	same := filepath.Join(t.TempDir(), "same.yaml")
	data, err := os.ReadFile("../../policies/ingress/backend-policy.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(same, data, 0o644))
	applied := len(twin.Pols)
	rs := h.Control("08-control-same", 8, same).Run(ctx)
	require.Contains(t, rs.Failure.String(), "changes no cell of 08-payments-policy: it proves nothing")
	require.Len(t, twin.Pols, applied)
	rs = h.Control("08-control-missing", 8, filepath.Join(t.TempDir(), "missing.yaml")).Run(ctx)
	require.Contains(t, rs.Failure.String(), "missing.yaml")
}

// Faults against the twin: a slow source is waited for; lost DNS answers on a verify (no
// cell changes) fail it at once, as the outage they are; a replaced pod gets a session of
// its own.
func TestSimFaults(t *testing.T) {
	h, twin := simHarness(t)
	ctx := context.Background()
	for i := range 9 {
		require.Empty(t, h.RunStep(ctx, i).Failure.String())
	}

	twin.Slow["pci/payments"] = 300 * time.Millisecond
	rs := h.Verify(8, "verify-slow-source").Run(ctx)
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.Regexp(t, `rounds; first 3\d\dms`, rs.Text(), "the round waited for the slow source")
	delete(twin.Slow, "pci/payments")

	twin.LostDNS["frontend/client"] = 2
	rs = h.Verify(8, "verify-lost-dns").Run(ctx)
	require.Contains(t, rs.Failure.String(), "2 cells seen wrong in the round that started", rs.Text())
	require.Equal(t, 1, rs.Rounds, "never retried away")
	require.Equal(t, 2, rs.FirstTry, "both DNS cells of the client")
	require.NotContains(t, rs.Failure.String(), "TCX", "explained only on eBPF with TCX")
	rs = h.Verify(8, "verify-dns-back").Run(ctx)
	require.Empty(t, rs.Failure.String(), rs.Text())
	// On eBPF with TCX the failure names what Calico does there; with tc it does not.
	for _, attach := range []calico.BPFAttach{calico.AttachTCX, calico.AttachTC} {
		h.Cfg.Dataplane, h.Cfg.BPFAttach = calico.BPF, attach
		twin.LostDNS["frontend/client"] = 2
		rs = h.Verify(8, "verify-lost-dns-"+string(attach)).Run(ctx)
		require.Contains(t, rs.Failure.String(), "2 cells seen wrong in the round that started", rs.Text())
		require.Equal(t, attach == calico.AttachTCX, strings.Contains(rs.Failure.String(), "On eBPF with TCX, Calico v3.31.7 to v3.33 re-attach"), rs.Text())
		require.Empty(t, h.Verify(8, "verify-dns-back").Run(ctx).Failure.String())
	}
	h.Cfg.Dataplane, h.Cfg.BPFAttach = "", ""

	twin.Mu.Lock()
	twin.Generation["frontend/client"]++
	twin.Mu.Unlock()
	rs = h.Verify(8, "verify-replaced-pod").Run(ctx)
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.Contains(t, twin.Opened, "frontend/client-g1-sim", "the new pod got a session of its own")
}

// A dual-stack run: every step's fixture expected over both families (each column again,
// over IPv6), both workshop controls, and the two ipBlock controls, each changing exactly
// its family's external cell.
func TestSimWorkshopDualStack(t *testing.T) {
	for _, by := range []string{"name", "pod-ip", "cluster-ip"} {
		t.Run(by, func(t *testing.T) { simWorkshopDualStack(t, by) })
	}
}

func simWorkshopDualStack(t *testing.T, by string) {
	h, twin := simHarness(t)
	h.Cfg.ByPodIP, h.Cfg.ByClusterIP = by == "pod-ip", by == "cluster-ip"
	twin.Dual, twin.ExternalIPv6 = true, h.Scenario.External.IPv6
	h.Cfg.Dual, h.Cfg.ExternalIPv6 = true, twin.ExternalIPv6
	ctx := context.Background()
	for i := range 9 {
		rs := h.RunStep(ctx, i)
		require.Empty(t, rs.Failure.String(), rs.Text())
		if i == 6 {
			rs = h.Control("06-control-pci-without-dns", 6, "../../policies/controls/pci-policy-without-dns.yaml").Run(ctx)
			require.Empty(t, rs.Failure.String(), rs.Text())
			if by == "name" {
				require.Contains(t, rs.Text(), "pci/payments -> facade:80@ipv6: expected X (blocked), observed D (dns-failure)", "names need DNS over both families")
			} else {
				require.NotContains(t, rs.Text(), "facade:80@ipv6: expected X (blocked), observed D", "addresses need no DNS")
			}
		}
	}
	rs := h.Verify(8, "verify").Run(ctx)
	require.Len(t, rs.Expected.Cols, 18, "9 columns per family")
	require.Contains(t, rs.Expected.Cols, "dns:53/udp@ipv6")
	urls := map[string]string{}
	for _, r := range rs.Results {
		urls[r.Row+" "+r.Col] = r.URL
	}
	want := map[string]string{
		"name":       "http+ipv6://payments.pci.svc.cluster.local.:6380/status",
		"pod-ip":     "http://[fd00:10:244::",
		"cluster-ip": "http://[fd00:10:96::",
	}[by]
	require.Contains(t, urls["infrastructure/queue payments:6380@ipv6"], want)
	require.Equal(t, "dns+udp+ipv6://management-ui.management-ui.svc.cluster.local.", urls["pci/payments dns:53/udp@ipv6"])
	require.Equal(t, "http://[fc00:f853:ccd:e793::c8]:8080/status", urls["frontend/client external:8080@ipv6"])
	for name, file := range map[string]string{
		"08-control-ipblock-ipv6":    "frontend-egress-without-external-ipv6.yaml",
		"08-control-ipblock-ipv4":    "frontend-egress-without-external-ipv4.yaml",
		"08-self-check-wrong-policy": "backend-policy-wrong-port.yaml",
	} {
		rs := h.Control(name, 8, filepath.Join("../../policies/controls", file)).Run(ctx)
		require.Empty(t, rs.Failure.String(), rs.Text())
	}
}

// The DNS control on a dataplane whose nodes' conntrack still tracks the source's DNS flows
// when the variant closes them: the harness records and deletes them, and judges once two
// reads show none.
func TestSimControlFlushesTrackedDNSFlows(t *testing.T) {
	h, twin := simHarness(t)
	h.Cfg.NodeConntrack = true
	twin.WithCalico(t, "v1")
	ctx := context.Background()
	for i := range 7 {
		require.Empty(t, h.RunStep(ctx, i).Failure.String())
	}
	twin.TrackedDNS["pci/payments"] = 100 // would outlast the control without the flush
	rs := h.Control("06-control-pci-without-dns", 6, filepath.Join("../..", "policies/controls/pci-policy-without-dns.yaml")).Run(ctx)
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.Equal(t, 1, twin.Flushes)
	require.Contains(t, rs.Text(), "pci/payments's nodes tracked 1 flows of theirs to port 53 (the longest for 3m19s more")
	require.Contains(t, rs.Text(), "deleted (conntrack -D, 1 flushes)")
}

// A conntrack the harness cannot read (here: no calico-node pod to read it in) fails the
// control rather than judging without knowing.
func TestSimControlFailsWithoutConntrack(t *testing.T) {
	h, _ := simHarness(t)
	h.Cfg.NodeConntrack = true
	ctx := context.Background()
	for i := range 7 {
		require.Empty(t, h.RunStep(ctx, i).Failure.String())
	}
	rs := h.Control("06-control-pci-without-dns", 6, filepath.Join("../..", "policies/controls/pci-policy-without-dns.yaml")).Run(ctx)
	require.Contains(t, rs.Failure.String(), "what pci/payments's node tracks of them cannot be read: no calico-node pod")
	require.Contains(t, rs.Text(), "originals restored", "the restore still runs")
}
