package proof

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/kube"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/star"
)

// CrossNode shows the cluster's dataplane works before the workshop runs: two pods on
// two different workers (setup), a reaching b by pod IP and by service name; a
// default-deny ingress policy turns both into timeouts; deleting it restores both
// (assess). The teardown removes the proof's namespace.
func CrossNode(h *harness.Harness, repo string) *check.Check {
	var deny []scenario.Object
	var a, b *corev1.Pod
	return &check.Check{
		Name: "proof-cross-node-dataplane", Kind: "check",
		Setup: func(ctx context.Context, rs *report.Step) error {
			var err error
			if deny, a, b, err = deploy(ctx, h, repo); err != nil {
				return err
			}
			rs.Proof = &report.Proof{A: report.Placement{IP: a.Status.PodIP, Node: a.Spec.NodeName}, B: report.Placement{IP: b.Status.PodIP, Node: b.Spec.NodeName}, Dual: h.Cfg.Dual}
			return nil
		},
		Assess: func(ctx context.Context, rs *report.Step) error { return crossNode(ctx, h, rs, deny, a, b) },
		Teardown: func(ctx context.Context, _ *report.Step) error {
			removeProof(ctx, h)
			return nil
		},
	}
}

// crossNode runs the proof's three phases: no policy, the default-deny, deleted.
func crossNode(ctx context.Context, h *harness.Harness, rs *report.Step, deny []scenario.Object, a, b *corev1.Pod) error {
	plan, external, err := plan(ctx, h, a, b)
	if err != nil {
		return err
	}
	var before *matrix.Matrix // the previous phase's matrix: the cells a phase changes
	phase := func(name string, want matrix.Verdict, since time.Time) error {
		done, m, err := phase(ctx, h, plan, external, name, want, before, since)
		if err == nil {
			rs.Proof.Phases = append(rs.Proof.Phases, done)
		}
		before = m
		return err
	}
	if err := phase("no policy", matrix.Allowed, time.Now()); err != nil {
		return err
	}
	applied := time.Now()
	if err := h.Apply(ctx, deny); err != nil {
		return err
	}
	if err := phase("default-deny ingress applied", matrix.Blocked, applied); err != nil {
		return err
	}
	us, err := harness.Unstructured(deny)
	if err != nil {
		return err
	}
	deleted := time.Now()
	if err := h.Kube.Delete(ctx, us...); err != nil {
		return err
	}
	return phase("default-deny deleted", matrix.Allowed, deleted)
}

// deploy applies the proof's pods a and b (on two workers) and returns them, with the
// default-deny that selects both. A check removes the namespace in its teardown.
func deploy(ctx context.Context, h *harness.Harness, repo string) (deny []scenario.Object, a, b *corev1.Pod, err error) {
	objs, err := scenario.LoadObjects(filepath.Join(repo, "manifests", "proof", "proof.yaml"))
	if err != nil {
		return nil, nil, nil, err
	}
	if deny, err = scenario.LoadObjects(filepath.Join(repo, "policies", "controls", "proof-default-deny.yaml")); err != nil {
		return nil, nil, nil, err
	}
	if err := h.Apply(ctx, objs); err != nil {
		return nil, nil, nil, err
	}
	if err := h.Kube.WaitDeployments(ctx, h.Cfg.ReadyTimeout, "netpol-proof/a", "netpol-proof/b"); err != nil {
		return nil, nil, nil, err
	}
	if a, err = h.Kube.RunningPod(ctx, "netpol-proof", map[string]string{"app": "a"}); err != nil {
		return nil, nil, nil, err
	}
	if b, err = h.Kube.RunningPod(ctx, "netpol-proof", map[string]string{"app": "b"}); err != nil {
		return nil, nil, nil, err
	}
	if a.Spec.NodeName == b.Spec.NodeName {
		return nil, nil, nil, fmt.Errorf("pods a and b both run on %s: the proof needs two nodes", a.Spec.NodeName)
	}
	return deny, a, b, nil
}

// removeProof deletes the proof's namespace (also when ctx has ended).
func removeProof(ctx context.Context, h *harness.Harness) {
	_ = h.Kube.DeleteNamespaces(context.WithoutCancel(ctx), 2*time.Minute, "netpol-proof")
}

// plan probes b from a by pod IP and by name, and on a dual-stack cluster over IPv6
// too; external lists the columns that stay allowed throughout (the external host).
func plan(ctx context.Context, h *harness.Harness, a, b *corev1.Pod) (probe.Plan, []string, error) {
	plan := probe.Plan{
		Sources: []probe.Source{{ID: "netpol-proof/a", Namespace: "netpol-proof", Pod: a.Name, Container: "star"}},
		Targets: []probe.Target{
			{ID: "b-by-ip", URL: star.StatusURL(b.Status.PodIP, 8080, false)},
			{ID: "b-by-name", URL: "http://b.netpol-proof.svc.cluster.local:8080/status"},
		},
	}
	if !h.Cfg.Dual {
		return plan, nil, nil
	}
	v6, err := ipv6Targets(ctx, h, b)
	if err != nil {
		return plan, nil, err
	}
	plan.Targets = append(plan.Targets, v6...)
	return plan, []string{externalTarget(h, true).ID}, nil
}

// phase requires every b column to show want (the external ones: allowed) and says
// how long that took; only the cells that differ from before may converge. It returns the
// phase's expected matrix.
func phase(ctx context.Context, h *harness.Harness, plan probe.Plan, external []string, name string, want matrix.Verdict, before *matrix.Matrix, since time.Time) (report.ProofPhase, *matrix.Matrix, error) {
	done := report.ProofPhase{Name: name, Want: want, External: external}
	var cols []string
	for _, t := range plan.Targets {
		cols = append(cols, t.ID)
	}
	m := matrix.New([]string{"netpol-proof/a"}, cols, want)
	for _, c := range external {
		_ = m.Set("netpol-proof/a", c, matrix.Allowed)
	}
	out, err := h.Engine.Converge(ctx, plan, m, before, since, h.Cfg.ConvergeDeadline)
	if err != nil {
		return done, m, err
	}
	if len(out.Leaks) > 0 {
		return done, m, fmt.Errorf("%s: cells seen wrong %s after the change, outside what it changes (a leak is never retried):\n%s", name, out.LeakAt.Round(time.Millisecond), matrix.RenderDiff(m, out.Leaks))
	}
	if !out.Converged {
		return done, m, fmt.Errorf("%s: expected %s:\n%s", name, want, matrix.RenderDiff(m, out.Mismatches))
	}
	done.Targets = slices.DeleteFunc(slices.Clone(cols), func(c string) bool { return slices.Contains(external, c) })
	done.After = out.Latency
	return done, m, nil
}

// ipv6Targets are the proof's IPv6 columns: b by its IPv6 pod IP, by its Service's
// IPv6 ClusterIP, by name resolved to IPv6 only, and the external host's IPv6 address.
func ipv6Targets(ctx context.Context, h *harness.Harness, b *corev1.Pod) ([]probe.Target, error) {
	podIP := kube.AddressOf(kube.PodIPs(b), true)
	svc, err := h.Kube.Clientset().CoreV1().Services("netpol-proof").Get(ctx, "b", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("service netpol-proof/b: %w", err)
	}
	clusterIP := kube.AddressOf(svc.Spec.ClusterIPs, true)
	switch {
	case podIP == "":
		return nil, fmt.Errorf("dual-stack: pod %s has no IPv6 address (pod IPs %v): Calico's IPv6 pool did not assign one", b.Name, kube.PodIPs(b))
	case clusterIP == "":
		return nil, fmt.Errorf("dual-stack: service netpol-proof/b has no IPv6 ClusterIP (%v)", svc.Spec.ClusterIPs)
	case h.Cfg.ExternalIPv6 == "":
		return nil, fmt.Errorf("dual-stack: the external host has no IPv6 address on kind's network")
	}
	return []probe.Target{
		{ID: "b-by-ipv6", URL: star.StatusURL(podIP, 8080, true)},
		{ID: "b-by-clusterip-ipv6", URL: star.StatusURL(clusterIP, 8080, true)},
		{ID: "b-by-name-ipv6", URL: star.StatusURL("b.netpol-proof.svc.cluster.local", 8080, true)},
		externalTarget(h, true),
	}, nil
}

// externalTarget is the external host (our container on kind's network) at its IPv4 or
// its IPv6 address, as the proof's checks name it.
func externalTarget(h *harness.Harness, v6 bool) probe.Target {
	if v6 {
		return probe.Target{ID: "external-by-ipv6", URL: star.StatusURL(h.Cfg.ExternalIPv6, 8080, true)}
	}
	return probe.Target{ID: "external", URL: star.StatusURL(h.Cfg.ExternalIP, 8080, false)}
}
