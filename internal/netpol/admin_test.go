package netpol

import (
	"testing"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	v1alpha1 "sigs.k8s.io/network-policy-api/apis/v1alpha1"
	v1alpha2 "sigs.k8s.io/network-policy-api/apis/v1alpha2"
	"sigs.k8s.io/yaml"
)

// converted decodes one admin policy of type T strictly and converts it.
func converted[T any](t *testing.T, y string, convert func(*T) (AdminPolicy, error)) AdminPolicy {
	t.Helper()
	var p T
	require.NoError(t, yaml.UnmarshalStrict([]byte(y), &p))
	ap, err := convert(&p)
	require.NoError(t, err)
	return ap
}

func anp(t *testing.T, y string) AdminPolicy  { return converted(t, y, FromANP) }
func banp(t *testing.T, y string) AdminPolicy { return converted(t, y, FromBANP) }
func cnp(t *testing.T, y string) AdminPolicy  { return converted(t, y, FromCNP) }

// TestAdminTiers: the order of the tiers and of the rules in them, each verdict written by
// hand from the API's documentation (admin.go's list).
func TestAdminTiers(t *testing.T) {
	denyIntoB := `{metadata: {name: deny-b}, spec: {priority: 20, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{name: deny, action: Deny, from: [{namespaces: {}}]}]}}`
	passA := `{metadata: {name: pass-a}, spec: {priority: 10, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{name: pass, action: Pass, from: [{namespaces: {matchLabels: {team: a}}}]}]}}`
	allowA := `{metadata: {name: allow-a}, spec: {priority: 10, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{name: allow, action: Allow, from: [{namespaces: {matchLabels: {team: a}}}]}]}}`
	npDenyB := `{metadata: {name: deny, namespace: b}, spec: {podSelector: {}, policyTypes: [Ingress]}}`
	npAllowA := `{metadata: {name: allow-a, namespace: b}, spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}}}]}]}}`
	baseDeny := `{metadata: {name: default}, spec: {subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{name: deny, action: Deny, from: [{namespaces: {}}]}]}}`
	webToDB := Connection{Src: web, Dst: db, Port: 5432}
	cases := []struct {
		name  string
		nps   []string
		admin func(t *testing.T) []AdminPolicy
		conn  Connection
		want  bool
	}{
		{"an admin Deny beats a NetworkPolicy's allow", []string{npAllowA}, func(t *testing.T) []AdminPolicy { return []AdminPolicy{anp(t, denyIntoB)} }, webToDB, false},
		{"an admin Allow beats a NetworkPolicy's default deny", []string{npDenyB}, func(t *testing.T) []AdminPolicy { return []AdminPolicy{anp(t, allowA)} }, webToDB, true},
		{"Pass skips the lower-priority Deny: the NetworkPolicy allows", []string{npAllowA}, func(t *testing.T) []AdminPolicy { return []AdminPolicy{anp(t, denyIntoB), anp(t, passA)} }, webToDB, true},
		{"Pass skips the Deny: the NetworkPolicy denies", []string{npDenyB}, func(t *testing.T) []AdminPolicy { return []AdminPolicy{anp(t, denyIntoB), anp(t, passA)} }, webToDB, false},
		{"Pass with no NetworkPolicy: nothing decides, allowed", nil, func(t *testing.T) []AdminPolicy { return []AdminPolicy{anp(t, denyIntoB), anp(t, passA)} }, webToDB, true},
		{"lower priority value first: the Deny at 5 beats the Pass at 10", []string{npAllowA}, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{anp(t, `{metadata: {name: deny-b}, spec: {priority: 5, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{name: deny, action: Deny, from: [{namespaces: {}}]}]}}`), anp(t, passA)}
		}, webToDB, false},
		{"rule order within a policy: the first match decides", nil, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{anp(t, `{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{name: allow, action: Allow, from: [{namespaces: {}}]}, {name: deny, action: Deny, from: [{namespaces: {}}]}]}}`)}
		}, webToDB, true},
		{"a baseline decides where no NetworkPolicy selects", nil, func(t *testing.T) []AdminPolicy { return []AdminPolicy{banp(t, baseDeny)} }, webToDB, false},
		{"a NetworkPolicy overrides the baseline", []string{npAllowA}, func(t *testing.T) []AdminPolicy { return []AdminPolicy{banp(t, baseDeny)} }, webToDB, true},
		{"an admin rule's ports: another port is not matched", nil, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{anp(t, `{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {protocol: TCP, port: 80}}]}]}}`)}
		}, webToDB, true},
		{"a named port matches the destination's container port", nil, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{anp(t, `{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{action: Deny, from: [{namespaces: {}}], ports: [{namedPort: sql}]}]}}`)}
		}, webToDB, false},
		{"a port range", nil, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{anp(t, `{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{action: Deny, from: [{namespaces: {}}], ports: [{portRange: {protocol: TCP, start: 5000, end: 6000}}]}]}}`)}
		}, webToDB, false},
		{"egress networks: the address inside is denied", nil, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{anp(t, `{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {matchLabels: {team: a}}}, egress: [{action: Deny, to: [{networks: [192.0.2.0/24]}]}]}}`)}
		}, Connection{Src: web, Dst: remote, Port: 443}, false},
		{"egress networks: an address outside is not matched", nil, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{anp(t, `{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {matchLabels: {team: a}}}, egress: [{action: Deny, to: [{networks: [198.51.100.0/24]}]}]}}`)}
		}, Connection{Src: web, Dst: remote, Port: 443}, true},
		{"pods subject: only the selected pods of the namespaces", nil, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{anp(t, `{metadata: {name: x}, spec: {priority: 1, subject: {pods: {namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {app: web}}}}, ingress: [{action: Deny, from: [{namespaces: {}}]}]}}`)}
		}, webToDB, true},
		{"ClusterNetworkPolicy: Accept in the Admin tier beats a NetworkPolicy's deny", []string{npDenyB}, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{cnp(t, `{metadata: {name: x}, spec: {tier: Admin, priority: 1, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{action: Accept, from: [{namespaces: {}}]}]}}`)}
		}, webToDB, true},
		{"ClusterNetworkPolicy: the Baseline tier is below NetworkPolicy", []string{npAllowA}, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{cnp(t, `{metadata: {name: x}, spec: {tier: Baseline, priority: 1, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{action: Deny, from: [{namespaces: {}}]}]}}`)}
		}, webToDB, true},
		{"ClusterNetworkPolicy: protocols with a range", nil, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{cnp(t, `{metadata: {name: x}, spec: {tier: Admin, priority: 1, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{udp: {}}, {tcp: {destinationPort: {range: {start: 5432, end: 5433}}}}]}]}}`)}
		}, webToDB, false},
		{"ClusterNetworkPolicy: a UDP rule leaves TCP alone", nil, func(t *testing.T) []AdminPolicy {
			return []AdminPolicy{cnp(t, `{metadata: {name: x}, spec: {tier: Admin, priority: 1, subject: {namespaces: {matchLabels: {team: b}}}, ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{udp: {}}]}]}}`)}
		}, webToDB, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ps []networkingv1.NetworkPolicy
			for _, y := range tc.nps {
				ps = append(ps, mustPolicy(t, y))
			}
			e, err := New(ps, tc.admin(t)...)
			require.NoError(t, err)
			got := e.Evaluate(tc.conn)
			require.Equal(t, tc.want, got.Allowed, got.Reason)
		})
	}
}

// TestAdminConvertersRefuse: what the CRDs refuse, and what the evaluator does not model.
func TestAdminConvertersRefuse(t *testing.T) {
	for y, want := range map[string]string{
		`{metadata: {name: x}, spec: {priority: 1001, subject: {namespaces: {}}}}`:                                                                                             "spec.priority: 1001 is not 0-1000",
		`{metadata: {name: x}, spec: {priority: 1, subject: {}}}`:                                                                                                              "spec.subject: needs exactly one of namespaces or pods",
		`{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {}}, ingress: [{action: Drop, from: [{namespaces: {}}]}]}}`:                                           `spec.ingress[0].action: "Drop" is not Allow, Deny or Pass`,
		`{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {}}, ingress: [{action: Deny, from: []}]}}`:                                                           "spec.ingress[0].from: needs at least one peer",
		`{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {}}, egress: [{action: Deny, to: [{networks: [10.0.0.1/8]}]}]}}`:                                      "spec.egress[0].to[0].networks[0]: 10.0.0.1/8 has host bits set",
		`{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {}}, egress: [{action: Deny, to: [{nodes: {}}]}]}}`:                                                   "nodes and domainNames peers are not modelled",
		`{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}], ports: [{portRange: {start: 9, end: 8}}]}]}}`: "range 9-8 ends before it starts",
		`{metadata: {name: x}, spec: {priority: 1, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}], ports: [{}]}]}}`:                              "needs exactly one of portNumber, namedPort or portRange",
	} {
		var p v1alpha1.AdminNetworkPolicy
		require.NoError(t, yaml.UnmarshalStrict([]byte(y), &p))
		_, err := FromANP(&p)
		require.ErrorContains(t, err, want, y)
	}
	for y, want := range map[string]string{
		`{metadata: {name: x}, spec: {tier: Middle, priority: 1, subject: {namespaces: {}}}}`:                                                                                                `spec.tier: "Middle" is not Admin or Baseline`,
		`{metadata: {name: x}, spec: {tier: Admin, priority: 1, subject: {namespaces: {}}, ingress: [{action: Allow, from: [{namespaces: {}}]}]}}`:                                           `"Allow" is not Accept, Deny or Pass`,
		`{metadata: {name: x}, spec: {tier: Admin, priority: 1, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {}, udp: {}}]}]}}`:           "needs exactly one of tcp, udp, sctp or destinationNamedPort",
		`{metadata: {name: x}, spec: {tier: Admin, priority: 1, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {}}}]}]}}`: "needs exactly one of number or range",
	} {
		var p v1alpha2.ClusterNetworkPolicy
		require.NoError(t, yaml.UnmarshalStrict([]byte(y), &p))
		_, err := FromCNP(&p)
		require.ErrorContains(t, err, want, y)
	}
	var b v1alpha1.BaselineAdminNetworkPolicy
	require.NoError(t, yaml.UnmarshalStrict([]byte(`{metadata: {name: default}, spec: {subject: {namespaces: {}}, ingress: [{action: Pass, from: [{namespaces: {}}]}]}}`), &b))
	_, err := FromBANP(&b)
	require.ErrorContains(t, err, "a baseline has no Pass")
}
