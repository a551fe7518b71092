package netpol

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The admin tiers of the network-policy-api: cluster-scoped policies an administrator writes
// above and below the namespaces' NetworkPolicies. Two APIs say the same thing:
// AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1, enforced by Calico v3.29 to
// v3.31) and ClusterNetworkPolicy (v1alpha2, tiers Admin and Baseline, Calico v3.32 on).
// Each is converted (convert.go) into one AdminPolicy, which is what the evaluator reads.
//
// A direction (egress of the source, ingress of the destination) is decided by, in order:
//  1. the Admin tier: its policies that select the pod, by priority (lower first), each
//     one's rules in written order; the first rule that matches decides: Allow is final,
//     Deny is final, Pass skips the rest of the Admin tier;
//  2. the NetworkPolicies: if any selects the pod for that direction, they decide;
//  3. the Baseline tier, as the Admin tier (a Pass there ends it);
//  4. nothing decided: allowed.

// AdminAction is what a rule does with the traffic it matches.
type AdminAction string

const (
	// Allow is ANP/BANP's Allow and ClusterNetworkPolicy's Accept: final.
	Allow AdminAction = "Allow"
	// Deny is final.
	Deny AdminAction = "Deny"
	// Pass hands the decision to the next tier.
	Pass AdminAction = "Pass"
)

// Tier is where an admin policy sits relative to NetworkPolicy.
type Tier string

const (
	// AdminTier is above NetworkPolicy.
	AdminTier Tier = "Admin"
	// BaselineTier is below it: it decides only for pods no NetworkPolicy selects.
	BaselineTier Tier = "Baseline"
)

// AdminPolicy is one admin policy of either API.
type AdminPolicy struct {
	// Ref names it in reasons and errors ("AdminNetworkPolicy backend-guardrail").
	Ref      string
	Tier     Tier
	Priority int32
	Subject  PodSet
	Ingress  []AdminRule
	Egress   []AdminRule
}

// PodSet is a set of pods: every pod of the namespaces a selector picks (Namespaces), or
// the pods a pod selector picks in those a namespace selector picks (PodNamespaces, Pods).
type PodSet struct {
	Namespaces    *metav1.LabelSelector
	PodNamespaces *metav1.LabelSelector
	Pods          *metav1.LabelSelector
}

// AdminRule matches traffic to or from any of its peers on any of its ports.
type AdminRule struct {
	Name   string
	Action AdminAction
	Peers  []AdminPeer
	// Ports nil: every port of every protocol.
	Ports []AdminPort
}

// AdminPeer is pods (PodSet) or addresses (Networks), never both. Networks match an
// endpoint by its IP: the scenario's pods are evaluated without one, so a networks peer
// matches only the external host here (the scenario's networks hold no pod address).
type AdminPeer struct {
	PodSet
	Networks []netip.Prefix
}

// AdminPort is a protocol's port or port range (Last >= First), all its ports (First 0), or a
// named container port of the destination (Named, TCP, UDP or SCTP alike).
type AdminPort struct {
	Protocol    corev1.Protocol
	First, Last int32
	Named       string
}

func (s PodSet) empty() bool { return s.Namespaces == nil && s.Pods == nil }

func (s PodSet) contains(ep Endpoint) bool {
	if !ep.Pod {
		return false
	}
	if s.Namespaces != nil {
		return selects(s.Namespaces, ep.NamespaceLabels)
	}
	return selects(s.PodNamespaces, ep.NamespaceLabels) && selects(s.Pods, ep.Labels)
}

func (p AdminPeer) matches(ep Endpoint) bool {
	if !p.empty() {
		return p.contains(ep)
	}
	addr, err := netip.ParseAddr(ep.IP)
	if err != nil {
		return false
	}
	for _, n := range p.Networks {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

func (p AdminPort) matches(c Connection) bool {
	if p.Named != "" {
		return namedPortIs(p.Named, c)
	}
	if p.Protocol != c.Protocol {
		return false
	}
	return p.First == 0 || (c.Port >= p.First && c.Port <= p.Last)
}

func (r AdminRule) matches(peer Endpoint, c Connection) bool {
	if !slices.ContainsFunc(r.Peers, func(p AdminPeer) bool { return p.matches(peer) }) {
		return false
	}
	return r.Ports == nil || slices.ContainsFunc(r.Ports, func(p AdminPort) bool { return p.matches(c) })
}

// tierDecision is the first matching rule of a tier's policies that select subject for
// kind, by priority then rule order; ok false when none matches.
func tierDecision(policies []AdminPolicy, tier Tier, ingress bool, subject, peer Endpoint, c Connection) (AdminAction, string, bool) {
	for _, p := range policies {
		if p.Tier != tier || !p.Subject.contains(subject) {
			continue
		}
		rules := p.Egress
		if ingress {
			rules = p.Ingress
		}
		for _, r := range rules {
			if r.matches(peer, c) {
				return r.Action, fmt.Sprintf("%s rule %q", p.Ref, r.Name), true
			}
		}
	}
	return "", "", false
}

// sortAdmin orders admin policies by tier, then priority (lower first), then reference.
func sortAdmin(ps []AdminPolicy) {
	slices.SortStableFunc(ps, func(a, b AdminPolicy) int {
		return cmp.Or(cmp.Compare(a.Tier, b.Tier), cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Ref, b.Ref))
	})
}
