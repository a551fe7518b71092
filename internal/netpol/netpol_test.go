package netpol

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

func pod(ns string, nsLabels map[string]string, l map[string]string, ip string, ports ...corev1.ContainerPort) Endpoint {
	return Endpoint{Pod: true, Namespace: ns, NamespaceLabels: nsLabels, Labels: l, IP: ip, Ports: ports}
}

var (
	nsA    = map[string]string{"team": "a"}
	nsB    = map[string]string{"team": "b", "env": "prod"}
	web    = pod("a", nsA, map[string]string{"app": "web"}, "10.0.0.1", corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	db     = pod("b", nsB, map[string]string{"app": "db", "tier": "data"}, "10.0.1.1", corev1.ContainerPort{Name: "sql", ContainerPort: 5432})
	dns    = pod("b", nsB, map[string]string{"app": "dns"}, "10.0.1.2", corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP})
	webB   = pod("b", nsB, map[string]string{"app": "web"}, "10.0.1.3")
	remote = Endpoint{IP: "192.0.2.10"}
)

func mustPolicy(t *testing.T, y string) networkingv1.NetworkPolicy {
	t.Helper()
	var p networkingv1.NetworkPolicy
	require.NoError(t, yaml.UnmarshalStrict([]byte(y), &p))
	return p
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		name     string
		policies []string
		conn     Connection
		want     bool
	}{
		{"no policy allows", nil, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"default deny ingress", []string{`
metadata: {name: deny, namespace: b}
spec: {podSelector: {}, policyTypes: [Ingress]}`}, Connection{Src: web, Dst: db, Port: 5432}, false},
		{"default deny ingress does not touch egress of the same pods", []string{`
metadata: {name: deny, namespace: b}
spec: {podSelector: {}, policyTypes: [Ingress]}`}, Connection{Src: db, Dst: web, Port: 8080}, true},
		{"policyTypes defaults to Ingress only", []string{`
metadata: {name: deny, namespace: a}
spec: {podSelector: {}}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"policyTypes defaults to Egress when egress rules exist", []string{`
metadata: {name: e, namespace: a}
spec: {podSelector: {}, egress: [{to: [{podSelector: {matchLabels: {app: none}}}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, false},
		{"podSelector alone means the policy's namespace", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, false},
		{"podSelector alone allows same namespace", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}`}, Connection{Src: webB, Dst: db, Port: 5432}, true},
		{"namespaceSelector alone selects every pod there", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}}}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"namespaceSelector and podSelector together must both hold", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}}, podSelector: {matchLabels: {app: api}}}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, false},
		{"two peers are a union", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: z}}}, {podSelector: {matchLabels: {app: web}}, namespaceSelector: {}}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"matchExpressions In", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {matchExpressions: [{key: tier, operator: In, values: [data]}]}, policyTypes: [Ingress]}`}, Connection{Src: web, Dst: db, Port: 5432}, false},
		{"matchExpressions DoesNotExist leaves other pods open", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}, policyTypes: [Ingress]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"namespace matchExpressions NotIn", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [b]}]}}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"port must match", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{ports: [{port: 5433}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, false},
		{"protocol defaults to TCP", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{ports: [{port: 53}]}]}`}, Connection{Src: web, Dst: dns, Port: 53, Protocol: corev1.ProtocolUDP}, false},
		{"protocol UDP", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{ports: [{port: 53, protocol: UDP}]}]}`}, Connection{Src: web, Dst: dns, Port: 53, Protocol: corev1.ProtocolUDP}, true},
		{"protocol without port means all ports", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{ports: [{protocol: TCP}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"named port on ingress", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{ports: [{port: sql}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"named port must be the destination's", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{ports: [{port: http}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, false},
		{"named port on egress resolves on the destination pod", []string{`
metadata: {name: p, namespace: a}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: sql}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"named port never matches an address outside the cluster", []string{`
metadata: {name: p, namespace: a}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: sql}]}]}`}, Connection{Src: web, Dst: remote, Port: 5432}, false},
		{"endPort range includes", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{ports: [{port: 5000, endPort: 6000}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"endPort range excludes", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{ports: [{port: 5000, endPort: 5431}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, false},
		{"ipBlock egress", []string{`
metadata: {name: p, namespace: a}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 192.0.2.0/24}}]}]}`}, Connection{Src: web, Dst: remote, Port: 80}, true},
		{"ipBlock except", []string{`
metadata: {name: p, namespace: a}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.8/29]}}]}]}`}, Connection{Src: web, Dst: remote, Port: 80}, false},
		{"ipBlock matches pod IPs too", []string{`
metadata: {name: p, namespace: b}
spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/24}}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"selectors never match an address outside the cluster", []string{`
metadata: {name: p, namespace: a}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {}}]}]}`}, Connection{Src: web, Dst: remote, Port: 80}, false},
		{"policies are a union", []string{`
metadata: {name: deny, namespace: b}
spec: {podSelector: {}, policyTypes: [Ingress]}`, `
metadata: {name: allow, namespace: b}
spec: {podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}}}], ports: [{port: 5432}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"a policy of another namespace does not apply", []string{`
metadata: {name: deny, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
		{"egress allowed but ingress denied", []string{`
metadata: {name: out, namespace: a}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}`, `
metadata: {name: in, namespace: b}
spec: {podSelector: {}, policyTypes: [Ingress]}`}, Connection{Src: web, Dst: db, Port: 5432}, false},
		{"ingress allowed but egress denied", []string{`
metadata: {name: out, namespace: a}
spec: {podSelector: {}, policyTypes: [Egress]}`, `
metadata: {name: in, namespace: b}
spec: {podSelector: {}, ingress: [{}]}`}, Connection{Src: web, Dst: db, Port: 5432}, false},
		{"egress to a namespace, any port", []string{`
metadata: {name: out, namespace: a}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {env: prod}}}]}]}`}, Connection{Src: web, Dst: db, Port: 5432}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ps []networkingv1.NetworkPolicy
			for _, y := range tc.policies {
				ps = append(ps, mustPolicy(t, y))
			}
			e, err := New(ps)
			require.NoError(t, err)
			got := e.Evaluate(tc.conn)
			require.Equal(t, tc.want, got.Allowed, got.Reason)
		})
	}
}

func TestNewRejectsInvalidPolicies(t *testing.T) {
	tcp := corev1.Protocol("ICMP")
	end := int32(10)
	bad := map[string]networkingv1.NetworkPolicySpec{
		"bad cidr":             {Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0/8"}}}}}},
		"bad operator":         {PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}},
		"bad protocol":         {Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp}}}}},
		"endPort below port":   {Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: &intstr.IntOrString{IntVal: 20}, EndPort: &end}}}}},
		"ipBlock and selector": {Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}, PodSelector: &metav1.LabelSelector{}}}}}},
		"bad type":             {PolicyTypes: []networkingv1.PolicyType{"Sideways"}},
	}
	for name, spec := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := New([]networkingv1.NetworkPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "n"}, Spec: spec}})
			require.ErrorContains(t, err, "policy n/p:")
		})
	}
}
