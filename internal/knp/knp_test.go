package knp

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	v1alpha1 "sigs.k8s.io/network-policy-api/apis/v1alpha1"
)

// TestEngine: each verdict written by hand; a wrong mirror of the packet type or a changed
// method would make them wrong (or panic), not silently agree.
func TestEngine(t *testing.T) {
	ns := func(n string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"kubernetes.io/metadata.name": n}}}
	}
	http := []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}
	allowAll := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "allow-all"}, Spec: networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}}},
	}}
	denyB := &v1alpha1.AdminNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-b"}, Spec: v1alpha1.AdminNetworkPolicySpec{
		Priority: 10,
		Subject:  v1alpha1.AdminNetworkPolicySubject{Namespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "b"}}},
		Ingress:  []v1alpha1.AdminNetworkPolicyIngressRule{{Action: v1alpha1.AdminNetworkPolicyRuleActionDeny, From: []v1alpha1.AdminNetworkPolicyIngressPeer{{Namespaces: &metav1.LabelSelector{}}}}},
		Egress:   []v1alpha1.AdminNetworkPolicyEgressRule{{Action: v1alpha1.AdminNetworkPolicyRuleActionDeny, To: []v1alpha1.AdminNetworkPolicyEgressPeer{{Networks: []v1alpha1.CIDR{"192.0.2.0/24"}}}}},
	}}
	e, err := New(Objects{
		Namespaces: []*corev1.Namespace{ns("a"), ns("b")},
		Pods: []Pod{
			{Namespace: "a", Name: "pa", Labels: map[string]string{"app": "x"}, IPs: []string{"10.244.0.1", "fd00::1"}, Ports: http},
			{Namespace: "b", Name: "pb", Labels: map[string]string{"app": "y"}, IPs: []string{"10.244.0.2", "fd00::2"}, Ports: http},
		},
		Policies: []*networkingv1.NetworkPolicy{allowAll},
		ANPs:     []*v1alpha1.AdminNetworkPolicy{denyB},
	})
	require.NoError(t, err)
	defer e.Close()
	require.False(t, e.Allowed("10.244.0.1", "10.244.0.2", corev1.ProtocolTCP, 80), "the admin Deny beats the NetworkPolicy's allow")
	require.False(t, e.Allowed("fd00::1", "fd00::2", corev1.ProtocolTCP, 80), "over IPv6 too")
	require.True(t, e.Allowed("10.244.0.2", "10.244.0.1", corev1.ProtocolTCP, 80), "a is not a subject")
	require.False(t, e.Allowed("10.244.0.2", "192.0.2.7", corev1.ProtocolTCP, 443), "b's egress to the denied network")
	require.True(t, e.Allowed("10.244.0.2", "198.51.100.7", corev1.ProtocolTCP, 443), "b's egress elsewhere")
	require.True(t, e.Allowed("10.244.0.1", "192.0.2.7", corev1.ProtocolTCP, 443), "a's egress anywhere")
}

// A default deny written "ingress: []" is read as the API server serves it (no rule), not
// as the engine would read the raw empty list (every source allowed).
func TestEngineReadsPoliciesAsServed(t *testing.T) {
	ns := func(n string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"kubernetes.io/metadata.name": n}}}
	}
	deny := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "deny"}, Spec: networkingv1.NetworkPolicySpec{
		Ingress: []networkingv1.NetworkPolicyIngressRule{},
	}}
	e, err := New(Objects{
		Namespaces: []*corev1.Namespace{ns("a"), ns("b")},
		Pods:       []Pod{{Namespace: "a", Name: "pa", IPs: []string{"10.244.0.1"}}, {Namespace: "b", Name: "pb", IPs: []string{"10.244.0.2"}}},
		Policies:   []*networkingv1.NetworkPolicy{deny},
	})
	require.NoError(t, err)
	defer e.Close()
	require.False(t, e.Allowed("10.244.0.1", "10.244.0.2", corev1.ProtocolTCP, 80))
	require.True(t, e.Allowed("10.244.0.2", "10.244.0.1", corev1.ProtocolTCP, 80))
}
