package scenario

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func findPolicy(t *testing.T, s *Scenario, ref string) *networkingv1.NetworkPolicy {
	t.Helper()
	for _, st := range s.Steps {
		for _, o := range st.Objects {
			if o.Policy != nil && o.Policy.Namespace+"/"+o.Policy.Name == ref {
				return o.Policy
			}
		}
	}
	t.Fatalf("no policy %s in the scenario", ref)
	return nil
}

func port(n int) *intstr.IntOrString { p := intstr.FromInt32(int32(n)); return &p }

func proto(p corev1.Protocol) *corev1.Protocol { return &p }

// policyMutations each change exactly one port, protocol, label or selector of one policy.
var policyMutations = []struct {
	name, policy string
	apply        func(p *networkingv1.NetworkPolicy)
}{
	{"backend-policy port 6379->6380", "backend/backend-policy", func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress[0].Ports[0].Port = port(6380) }},
	{"backend-policy protocol TCP->UDP", "backend/backend-policy", func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress[0].Ports[0].Protocol = proto(corev1.ProtocolUDP) }},
	{"backend-policy podSelector app=backend->app=facade", "backend/backend-policy", func(p *networkingv1.NetworkPolicy) { p.Spec.PodSelector.MatchLabels["app"] = "facade" }},
	{"backend-policy from app=facade->app=client", "backend/backend-policy", func(p *networkingv1.NetworkPolicy) {
		p.Spec.Ingress[0].From[0].PodSelector.MatchLabels["app"] = "client"
	}},
	{"facade-policy port 80->8080", "backend/facade-policy", func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress[0].Ports[0].Port = port(8080) }},
	{"facade-policy namespaceSelector requires=backend->requires=queue", "backend/facade-policy", func(p *networkingv1.NetworkPolicy) {
		p.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["requires"] = "queue"
	}},
	{"facade-policy podSelector app=facade->app=backend", "backend/facade-policy", func(p *networkingv1.NetworkPolicy) { p.Spec.PodSelector.MatchLabels["app"] = "backend" }},
	{"queue-policy port 5000->5001", "infrastructure/queue-policy", func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress[0].Ports[0].Port = port(5001) }},
	{"queue-policy namespaceSelector requires=queue->requires=backend", "infrastructure/queue-policy", func(p *networkingv1.NetworkPolicy) {
		p.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["requires"] = "backend"
	}},
	{"pci-policy UDP 53->54", "pci/default-deny-egress", func(p *networkingv1.NetworkPolicy) { p.Spec.Egress[0].Ports[0].Port = port(54) }},
	{"pci-policy TCP 53->54", "pci/default-deny-egress", func(p *networkingv1.NetworkPolicy) { p.Spec.Egress[0].Ports[1].Port = port(54) }},
	{"pci-policy podSelector {}->app=queue", "pci/default-deny-egress", func(p *networkingv1.NetworkPolicy) {
		p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "queue"}}
	}},
	{"payments-policy namespaceSelector role=infrastructure->role=management-ui", "pci/payments-policy", func(p *networkingv1.NetworkPolicy) {
		p.Spec.Egress[0].To[0].NamespaceSelector.MatchLabels["role"] = "management-ui"
	}},
	{"payments-policy podSelector app=payments->app=queue", "pci/payments-policy", func(p *networkingv1.NetworkPolicy) { p.Spec.PodSelector.MatchLabels["app"] = "queue" }},
	{"payments-policy gains port 6379", "pci/payments-policy", func(p *networkingv1.NetworkPolicy) {
		p.Spec.Egress[0].Ports = []networkingv1.NetworkPolicyPort{{Port: port(6379)}}
	}},
	{"allow-management-ui (frontend) role=management-ui->role=ui", "frontend/allow-management-ui", func(p *networkingv1.NetworkPolicy) {
		p.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["role"] = "ui"
	}},
	{"allow-management-ui (infrastructure) role=management-ui->role=ui", "infrastructure/allow-management-ui", func(p *networkingv1.NetworkPolicy) {
		p.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["role"] = "ui"
	}},
	{"allow-management-ui (pci) namespaceSelector->podSelector", "pci/allow-management-ui", func(p *networkingv1.NetworkPolicy) {
		p.Spec.Ingress[0].From[0].PodSelector, p.Spec.Ingress[0].From[0].NamespaceSelector = p.Spec.Ingress[0].From[0].NamespaceSelector, nil
	}},
	{"default-deny-backend podSelector {}->app=client", "backend/default-deny-backend", func(p *networkingv1.NetworkPolicy) {
		p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}}
	}},
	{"default-deny-frontend policyTypes Ingress->Egress", "frontend/default-deny-frontend", func(p *networkingv1.NetworkPolicy) {
		p.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	}},
}

// equivalentMutations change a policy without changing what it allows in this topology;
// the fixtures must NOT notice them (a check that the evaluator is not over-sensitive).
var equivalentMutations = []struct {
	name, policy string
	apply        func(p *networkingv1.NetworkPolicy)
}{
	// Only the facade carries app=facade, in any namespace.
	{"backend-policy from gains namespaceSelector {}", "backend/backend-policy", func(p *networkingv1.NetworkPolicy) {
		p.Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{}
	}},
	// allow-management-ui selects every pod of infrastructure for Ingress too, so the queue
	// stays isolated without the default deny: a policy isolates by selecting, not by denying.
	{"default-deny-infrastructure selects nothing", "infrastructure/default-deny-infrastructure", func(p *networkingv1.NetworkPolicy) {
		p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "nothing"}}
	}},
	// The same holds in pci: allow-management-ui (Ingress, every pod) keeps payments
	// isolated for ingress, and pci-policy (Egress, every pod) isolates it for egress.
	{"default-deny-pci selects nothing", "pci/default-deny-pci", func(p *networkingv1.NetworkPolicy) {
		p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "nothing"}}
	}},
	// default-deny-infrastructure still isolates the queue, queue-policy admits requires=queue
	// on 5000, and the management UI's only other way in is this policy: a selector change
	// that still selects the queue (its only pod) changes nothing.
	{"allow-management-ui (infrastructure) podSelector {}->app=queue", "infrastructure/allow-management-ui", func(p *networkingv1.NetworkPolicy) {
		p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "queue"}}
	}},
}
