package bench

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/versions"
)

// Namespace holds the scale benchmark's pods, apart from the workshop's.
const Namespace = "netpol-bench"

// Targets is M by default: the scale benchmark's target services; the first half
// admit the sources.
const Targets = 8

// Scale is the scale benchmark: N star pods (sources) x M target services in a namespace
// of its own, with policies of the workshop's shape (a default deny ingress; the first
// half of the targets admit the sources on their port, the others nothing). For each N it
// scales the sources, opens their probe sessions with one round, then times rounds of the
// whole matrix. A round that differs from the expectation fails it: a benchmark of wrong
// answers measures nothing.
func Scale(ctx context.Context, h *harness.Harness, sizes []int, targets, rounds int) ([]report.BenchPoint, error) {
	defer func() { _ = h.Kube.DeleteNamespaces(context.WithoutCancel(ctx), 3*time.Minute, Namespace) }()
	var out []report.BenchPoint
	for _, n := range sizes {
		plan, want, err := up(ctx, h, objects(n, targets, true), n, targets)
		if err != nil {
			return out, err
		}
		// One round opens the sessions (and lets the policies settle): not timed.
		// New pods: nothing is known before (nil), so no cell is held to an earlier verdict.
		if err := match(ctx, h, plan, want, nil, fmt.Sprintf("bench %d sources", n)); err != nil {
			return out, err
		}
		cpu0 := cpuTime()
		var times []time.Duration
		for range rounds {
			t0 := time.Now()
			obs, _ := h.Engine.Round(ctx, plan, want, nil)
			times = append(times, time.Since(t0))
			if mm, _ := matrix.Compare(want, obs); len(mm) > 0 {
				return out, fmt.Errorf("bench %d sources: a round differs from the expectation:\n%s", n, matrix.RenderDiff(want, mm))
			}
		}
		out = append(out, report.BenchPoint{
			Sources: n, Targets: targets, Cells: len(want.ProbedCells()), Median: report.Median(times), Worst: slices.Max(times),
			CPU: cpuTime() - cpu0, MaxRSS: maxRSS(),
		})
	}
	return out, nil
}

// up applies the benchmark's objects and waits for its pods: n sources, targets
// targets; it returns the plan and the matrix the objects mean (allowHalf: the first half
// of the targets admit the sources, else none does).
func up(ctx context.Context, h *harness.Harness, objs []scenario.Object, n, targets int) (probe.Plan, *matrix.Matrix, error) {
	if err := h.Apply(ctx, objs); err != nil {
		return probe.Plan{}, nil, fmt.Errorf("bench %d sources: %w", n, err)
	}
	names := []string{Namespace + "/src"}
	for i := range targets {
		names = append(names, fmt.Sprintf("%s/t%d", Namespace, i))
	}
	if err := h.Kube.WaitDeployments(ctx, 5*time.Minute, names...); err != nil {
		return probe.Plan{}, nil, err
	}
	allowed := 0
	for _, o := range objs {
		if o.Policy != nil && o.Policy.Name == "allow-sources" {
			allowed = targets / 2
		}
	}
	return planOf(ctx, h, n, targets, allowed)
}

// match probes until the benchmark's matrix is want (before: the one it changes
// from, nil for new pods), naming what in an error.
func match(ctx context.Context, h *harness.Harness, plan probe.Plan, want, before *matrix.Matrix, what string) error {
	conv, err := h.Engine.Converge(ctx, plan, want, before, time.Now(), h.Cfg.ConvergeDeadline)
	if err != nil {
		return err
	}
	if !conv.Converged {
		return fmt.Errorf("%s: the matrix never matched the expectation:\n%s", what, matrix.RenderDiff(want, append(conv.Leaks, conv.Mismatches...)))
	}
	return nil
}

// planOf lists the sources' running pods and the expected matrix: the first allowed
// targets admit the sources.
func planOf(ctx context.Context, h *harness.Harness, n, targets, allowed int) (probe.Plan, *matrix.Matrix, error) {
	var p probe.Plan
	list, err := h.Kube.Clientset().CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "role=bench-src"})
	if err != nil {
		return p, nil, err
	}
	for _, pod := range list.Items {
		if pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning {
			p.Sources = append(p.Sources, probe.Source{ID: Namespace + "/" + pod.Name, Namespace: Namespace, Pod: pod.Name, Container: "star"})
		}
	}
	if len(p.Sources) != n {
		return p, nil, fmt.Errorf("bench: %d running source pods, want %d", len(p.Sources), n)
	}
	var rows, cols []string
	for _, s := range p.Sources {
		rows = append(rows, s.ID)
	}
	for i := range targets {
		id := fmt.Sprintf("t%d:8080", i)
		cols = append(cols, id)
		p.Targets = append(p.Targets, probe.Target{ID: id, URL: fmt.Sprintf("http://t%d.%s.svc.cluster.local.:8080/status", i, Namespace)})
	}
	want := matrix.New(rows, cols, matrix.Allowed)
	for _, r := range rows {
		for i := allowed; i < targets; i++ {
			_ = want.Set(r, cols[i], matrix.Blocked)
		}
	}
	return p, want, nil
}

// objects are the benchmark's namespace, deployments, services and policies: a
// default deny and, with allowHalf, one admitting the sources to the first half of the
// targets.
func objects(n, targets int, allowHalf bool) []scenario.Object {
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	objs := []scenario.Object{{File: "bench", Namespace: ns}, {File: "bench", Deployment: deployment("src", n, map[string]string{"role": "bench-src"})}}
	for i := range targets {
		name := fmt.Sprintf("t%d", i)
		objs = append(objs,
			scenario.Object{File: "bench", Deployment: deployment(name, 1, map[string]string{"app": name})},
			scenario.Object{File: "bench", Service: &corev1.Service{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
				Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromString("http")}}},
			}})
	}
	objs = append(objs, policy("default-deny", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}))
	if allowHalf {
		var half []string
		for i := range targets / 2 {
			half = append(half, fmt.Sprintf("t%d", i))
		}
		objs = append(objs, allow("allow-sources", half))
	}
	return objs
}

func policy(name string, spec networkingv1.NetworkPolicySpec) scenario.Object {
	return scenario.Object{File: "bench", Policy: &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace}, Spec: spec,
	}}
}

// allow admits the sources to the targets named (their app label), on their port.
func allow(name string, apps []string) scenario.Object {
	port := intstr.FromInt32(8080)
	return policy(name, networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: apps}}},
		Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "bench-src"}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Port: &port}},
		}},
	})
}

func deployment(name string, replicas int, labels map[string]string) *appsv1.Deployment {
	r := int32(replicas)
	no, yes := false, true
	uid := int64(65532)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &r, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: &no, EnableServiceLinks: &no, TerminationGracePeriodSeconds: new(int64),
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid},
					Containers: []corev1.Container{{
						Name: "star", Image: versions.StarImage(), ImagePullPolicy: corev1.PullIfNotPresent,
						Args:  []string{"probe", "--name=" + name, "--listen=:8080"},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSS() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss
}
