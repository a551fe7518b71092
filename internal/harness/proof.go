package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// Proof shows the cluster's dataplane works before the workshop runs: two pods on two
// different workers, a reaching b by pod IP and by service name; a default-deny ingress
// policy turns both into timeouts; deleting it restores both.
func (h *Harness) Proof(ctx context.Context, repo string) *report.Step {
	rs := &report.Step{Name: "proof-cross-node-dataplane", Kind: "check"}
	t0 := time.Now()
	defer func() { rs.Duration = time.Since(t0) }()
	fail := func(err error) *report.Step { rs.Failure = err.Error(); return rs }
	objs, err := scenario.LoadObjects(filepath.Join(repo, "manifests", "proof", "proof.yaml"))
	if err != nil {
		return fail(err)
	}
	deny, err := scenario.LoadObjects(filepath.Join(repo, "policies", "controls", "proof-default-deny.yaml"))
	if err != nil {
		return fail(err)
	}
	defer func() { _ = h.Kube.DeleteNamespaces(context.WithoutCancel(ctx), 2*time.Minute, "netpol-proof") }()
	if err := h.Apply(ctx, objs); err != nil {
		return fail(err)
	}
	if err := h.Kube.WaitDeployments(ctx, h.Cfg.ReadyTimeout, "netpol-proof/a", "netpol-proof/b"); err != nil {
		return fail(err)
	}
	a, err := h.Kube.RunningPod(ctx, "netpol-proof", map[string]string{"app": "a"})
	if err != nil {
		return fail(err)
	}
	b, err := h.Kube.RunningPod(ctx, "netpol-proof", map[string]string{"app": "b"})
	if err != nil {
		return fail(err)
	}
	if a.Spec.NodeName == b.Spec.NodeName {
		return fail(fmt.Errorf("pods a and b both run on %s: the proof needs two nodes", a.Spec.NodeName))
	}
	rs.Notes = append(rs.Notes, fmt.Sprintf("a (%s) on %s, b (%s) on %s", a.Status.PodIP, a.Spec.NodeName, b.Status.PodIP, b.Spec.NodeName))
	plan := probe.Plan{
		Sources: []probe.Source{{ID: "netpol-proof/a", Namespace: "netpol-proof", Pod: a.Name, Container: "star"}},
		Targets: []probe.Target{
			{ID: "b-by-ip", URL: "http://" + b.Status.PodIP + ":" + strconv.Itoa(8080) + "/status"},
			{ID: "b-by-name", URL: "http://b.netpol-proof.svc.cluster.local:8080/status"},
		},
	}
	phase := func(name string, want matrix.Verdict, since time.Time) error {
		m := matrix.New([]string{"netpol-proof/a"}, []string{"b-by-ip", "b-by-name"}, want)
		out, err := h.Engine.Converge(ctx, plan, m, since, h.Cfg.ConvergeDeadline)
		if err != nil {
			return err
		}
		if !out.Converged {
			return fmt.Errorf("%s: expected %s:\n%s", name, want, matrix.RenderDiff(m, out.Mismatches))
		}
		rs.Notes = append(rs.Notes, fmt.Sprintf("%s: %s by pod IP and by name after %s", name, want, out.Latency.Round(time.Millisecond)))
		return nil
	}
	if err := phase("no policy", matrix.Allowed, time.Now()); err != nil {
		return fail(err)
	}
	applied := time.Now()
	if err := h.Apply(ctx, deny); err != nil {
		return fail(err)
	}
	if err := phase("default-deny ingress applied", matrix.Blocked, applied); err != nil {
		return fail(err)
	}
	us, err := Unstructured(deny)
	if err != nil {
		return fail(err)
	}
	deleted := time.Now()
	if err := h.Kube.Delete(ctx, us...); err != nil {
		return fail(err)
	}
	if err := phase("default-deny deleted", matrix.Allowed, deleted); err != nil {
		return fail(err)
	}
	return rs
}
