package netpol

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	v1alpha1 "sigs.k8s.io/network-policy-api/apis/v1alpha1"
	v1alpha2 "sigs.k8s.io/network-policy-api/apis/v1alpha2"
)

// The two admin APIs, converted into AdminPolicy. Each converter refuses what the API server
// would refuse (the CRDs' validation: priorities 0-1000, one subject form, one peer form,
// actions, ports) and what the evaluator does not model (nodes and domainNames peers), with
// the field's path.

// FromANP converts an AdminNetworkPolicy (Admin tier).
func FromANP(p *v1alpha1.AdminNetworkPolicy) (AdminPolicy, error) {
	ap := AdminPolicy{Ref: "AdminNetworkPolicy " + p.Name, Tier: AdminTier, Priority: p.Spec.Priority}
	if p.Spec.Priority < 0 || p.Spec.Priority > 1000 {
		return ap, fmt.Errorf("spec.priority: %d is not 0-1000", p.Spec.Priority)
	}
	var err error
	if ap.Subject, err = podSet("spec.subject", p.Spec.Subject.Namespaces, p.Spec.Subject.Pods); err != nil {
		return ap, err
	}
	for i, r := range p.Spec.Ingress {
		rule, err := v1alpha1Ingress(fmt.Sprintf("spec.ingress[%d]", i), r.Name, r.Action, r.From, r.Ports, true)
		if err != nil {
			return ap, err
		}
		ap.Ingress = append(ap.Ingress, rule)
	}
	for i, r := range p.Spec.Egress {
		where := fmt.Sprintf("spec.egress[%d]", i)
		rule, err := v1alpha1Egress(where, r.Name, r.Action, r.To, r.Ports, true)
		if err != nil {
			return ap, err
		}
		ap.Egress = append(ap.Egress, rule)
	}
	return ap, nil
}

// FromBANP converts the BaselineAdminNetworkPolicy (Baseline tier; the API allows one, named
// "default", and no Pass).
func FromBANP(p *v1alpha1.BaselineAdminNetworkPolicy) (AdminPolicy, error) {
	ap := AdminPolicy{Ref: "BaselineAdminNetworkPolicy " + p.Name, Tier: BaselineTier}
	if p.Name != "default" {
		return ap, fmt.Errorf("metadata.name: %q, but the API accepts only one BaselineAdminNetworkPolicy, named \"default\"", p.Name)
	}
	var err error
	if ap.Subject, err = podSet("spec.subject", p.Spec.Subject.Namespaces, p.Spec.Subject.Pods); err != nil {
		return ap, err
	}
	for i, r := range p.Spec.Ingress {
		rule, err := v1alpha1Ingress(fmt.Sprintf("spec.ingress[%d]", i), r.Name, v1alpha1.AdminNetworkPolicyRuleAction(r.Action), r.From, r.Ports, false)
		if err != nil {
			return ap, err
		}
		ap.Ingress = append(ap.Ingress, rule)
	}
	for i, r := range p.Spec.Egress {
		where := fmt.Sprintf("spec.egress[%d]", i)
		var to []v1alpha1.AdminNetworkPolicyEgressPeer
		for _, peer := range r.To {
			to = append(to, v1alpha1.AdminNetworkPolicyEgressPeer{Namespaces: peer.Namespaces, Pods: peer.Pods, Nodes: peer.Nodes, Networks: peer.Networks})
		}
		rule, err := v1alpha1Egress(where, r.Name, v1alpha1.AdminNetworkPolicyRuleAction(r.Action), to, r.Ports, false)
		if err != nil {
			return ap, err
		}
		ap.Egress = append(ap.Egress, rule)
	}
	return ap, nil
}

// FromCNP converts a ClusterNetworkPolicy (its tier says which).
func FromCNP(p *v1alpha2.ClusterNetworkPolicy) (AdminPolicy, error) {
	ap := AdminPolicy{Ref: "ClusterNetworkPolicy " + p.Name, Priority: p.Spec.Priority}
	switch p.Spec.Tier {
	case v1alpha2.AdminTier:
		ap.Tier = AdminTier
	case v1alpha2.BaselineTier:
		ap.Tier = BaselineTier
	default:
		return ap, fmt.Errorf("spec.tier: %q is not Admin or Baseline", p.Spec.Tier)
	}
	if p.Spec.Priority < 0 || p.Spec.Priority > 1000 {
		return ap, fmt.Errorf("spec.priority: %d is not 0-1000", p.Spec.Priority)
	}
	var err error
	if ap.Subject, err = podSet2("spec.subject", p.Spec.Subject.Namespaces, p.Spec.Subject.Pods); err != nil {
		return ap, err
	}
	for i, r := range p.Spec.Ingress {
		where := fmt.Sprintf("spec.ingress[%d]", i)
		rule := AdminRule{Name: r.Name}
		if rule.Action, err = v1alpha2Action(where, r.Action); err != nil {
			return ap, err
		}
		if len(r.From) == 0 {
			return ap, fmt.Errorf("%s.from: needs at least one peer", where)
		}
		for j, peer := range r.From {
			ps, err := podSet2(fmt.Sprintf("%s.from[%d]", where, j), peer.Namespaces, peer.Pods)
			if err != nil {
				return ap, err
			}
			rule.Peers = append(rule.Peers, AdminPeer{PodSet: ps})
		}
		if rule.Ports, err = v1alpha2Ports(where+".protocols", r.Protocols); err != nil {
			return ap, err
		}
		ap.Ingress = append(ap.Ingress, rule)
	}
	for i, r := range p.Spec.Egress {
		where := fmt.Sprintf("spec.egress[%d]", i)
		rule := AdminRule{Name: r.Name}
		if rule.Action, err = v1alpha2Action(where, r.Action); err != nil {
			return ap, err
		}
		if len(r.To) == 0 {
			return ap, fmt.Errorf("%s.to: needs at least one peer", where)
		}
		for j, peer := range r.To {
			w := fmt.Sprintf("%s.to[%d]", where, j)
			if peer.Nodes != nil || len(peer.DomainNames) > 0 {
				return ap, fmt.Errorf("%s: nodes and domainNames peers are not modelled by the evaluator: use namespaces, pods or networks", w)
			}
			to, err := egressPeer(w, peer.Namespaces, v1alpha1Pods(peer.Pods), networks2(peer.Networks))
			if err != nil {
				return ap, err
			}
			rule.Peers = append(rule.Peers, to)
		}
		if rule.Ports, err = v1alpha2Ports(where+".protocols", r.Protocols); err != nil {
			return ap, err
		}
		ap.Egress = append(ap.Egress, rule)
	}
	return ap, nil
}

func v1alpha1Action(where string, a v1alpha1.AdminNetworkPolicyRuleAction, passOK bool) (AdminAction, error) {
	switch a {
	case v1alpha1.AdminNetworkPolicyRuleActionAllow:
		return Allow, nil
	case v1alpha1.AdminNetworkPolicyRuleActionDeny:
		return Deny, nil
	case v1alpha1.AdminNetworkPolicyRuleActionPass:
		if passOK {
			return Pass, nil
		}
	}
	if passOK {
		return "", fmt.Errorf("%s.action: %q is not Allow, Deny or Pass", where, a)
	}
	return "", fmt.Errorf("%s.action: %q is not Allow or Deny (a baseline has no Pass)", where, a)
}

func v1alpha2Action(where string, a v1alpha2.ClusterNetworkPolicyRuleAction) (AdminAction, error) {
	switch a {
	case v1alpha2.ClusterNetworkPolicyRuleActionAccept:
		return Allow, nil
	case v1alpha2.ClusterNetworkPolicyRuleActionDeny:
		return Deny, nil
	case v1alpha2.ClusterNetworkPolicyRuleActionPass:
		return Pass, nil
	}
	return "", fmt.Errorf("%s.action: %q is not Accept, Deny or Pass", where, a)
}

// v1alpha1Ingress converts an ANP or BANP ingress rule (passOK: an ANP's).
func v1alpha1Ingress(where, name string, action v1alpha1.AdminNetworkPolicyRuleAction, from []v1alpha1.AdminNetworkPolicyIngressPeer, ports *[]v1alpha1.AdminNetworkPolicyPort, passOK bool) (AdminRule, error) {
	rule := AdminRule{Name: name}
	var err error
	if rule.Action, err = v1alpha1Action(where, action, passOK); err != nil {
		return rule, err
	}
	if len(from) == 0 {
		return rule, fmt.Errorf("%s.from: needs at least one peer", where)
	}
	for j, peer := range from {
		ps, err := podSet(fmt.Sprintf("%s.from[%d]", where, j), peer.Namespaces, peer.Pods)
		if err != nil {
			return rule, err
		}
		rule.Peers = append(rule.Peers, AdminPeer{PodSet: ps})
	}
	rule.Ports, err = v1alpha1Ports(where+".ports", ports)
	return rule, err
}

func v1alpha1Egress(where, name string, action v1alpha1.AdminNetworkPolicyRuleAction, to []v1alpha1.AdminNetworkPolicyEgressPeer, ports *[]v1alpha1.AdminNetworkPolicyPort, passOK bool) (AdminRule, error) {
	rule := AdminRule{Name: name}
	var err error
	if rule.Action, err = v1alpha1Action(where, action, passOK); err != nil {
		return rule, err
	}
	if len(to) == 0 {
		return rule, fmt.Errorf("%s.to: needs at least one peer", where)
	}
	for j, peer := range to {
		w := fmt.Sprintf("%s.to[%d]", where, j)
		if peer.Nodes != nil || len(peer.DomainNames) > 0 {
			return rule, fmt.Errorf("%s: nodes and domainNames peers are not modelled by the evaluator: use namespaces, pods or networks", w)
		}
		var nets []string
		for _, n := range peer.Networks {
			nets = append(nets, string(n))
		}
		to, err := egressPeer(w, peer.Namespaces, peer.Pods, nets)
		if err != nil {
			return rule, err
		}
		rule.Peers = append(rule.Peers, to)
	}
	rule.Ports, err = v1alpha1Ports(where+".ports", ports)
	return rule, err
}

// egressPeer is exactly one of namespaces, pods or networks.
func egressPeer(where string, ns *metav1.LabelSelector, pods *v1alpha1.NamespacedPod, networks []string) (AdminPeer, error) {
	if len(networks) == 0 {
		ps, err := podSet(where, ns, pods)
		return AdminPeer{PodSet: ps}, err
	}
	if ns != nil || pods != nil {
		return AdminPeer{}, fmt.Errorf("%s: a peer is exactly one of namespaces, pods or networks", where)
	}
	var peer AdminPeer
	for k, n := range networks {
		pfx, err := netip.ParsePrefix(n)
		if err != nil {
			return peer, fmt.Errorf("%s.networks[%d]: %w", where, k, err)
		}
		if pfx != pfx.Masked() {
			return peer, fmt.Errorf("%s.networks[%d]: %s has host bits set (the API wants %s)", where, k, n, pfx.Masked())
		}
		peer.Networks = append(peer.Networks, pfx)
	}
	return peer, nil
}

// podSet is exactly one of namespaces or pods, with selectors that parse.
func podSet(where string, ns *metav1.LabelSelector, pods *v1alpha1.NamespacedPod) (PodSet, error) {
	switch {
	case ns != nil && pods == nil:
		return PodSet{Namespaces: ns}, validSelector(where+".namespaces", ns)
	case pods != nil && ns == nil:
		if err := validSelector(where+".pods.namespaceSelector", &pods.NamespaceSelector); err != nil {
			return PodSet{}, err
		}
		return PodSet{PodNamespaces: &pods.NamespaceSelector, Pods: &pods.PodSelector}, validSelector(where+".pods.podSelector", &pods.PodSelector)
	}
	return PodSet{}, fmt.Errorf("%s: needs exactly one of namespaces or pods", where)
}

func podSet2(where string, ns *metav1.LabelSelector, pods *v1alpha2.NamespacedPod) (PodSet, error) {
	return podSet(where, ns, v1alpha1Pods(pods))
}

func v1alpha1Pods(p *v1alpha2.NamespacedPod) *v1alpha1.NamespacedPod {
	if p == nil {
		return nil
	}
	return &v1alpha1.NamespacedPod{NamespaceSelector: p.NamespaceSelector, PodSelector: p.PodSelector}
}

func networks2(ns []v1alpha2.CIDR) []string {
	var out []string
	for _, n := range ns {
		out = append(out, string(n))
	}
	return out
}

func validProtocol(where string, p corev1.Protocol) error {
	switch p {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return nil
	}
	return fmt.Errorf("%s: %q is not TCP, UDP or SCTP", where, p)
}

func validRange(where string, first, last int32) error {
	if err := ValidPort(where, intstr.FromInt32(first)); err != nil {
		return err
	}
	if err := ValidPort(where, intstr.FromInt32(last)); err != nil {
		return err
	}
	if last < first {
		return fmt.Errorf("%s: range %d-%d ends before it starts", where, first, last)
	}
	return nil
}

// v1alpha1Ports: nil (the field absent) is every port; each entry is exactly one of
// portNumber, namedPort or portRange.
func v1alpha1Ports(where string, ports *[]v1alpha1.AdminNetworkPolicyPort) ([]AdminPort, error) {
	if ports == nil {
		return nil, nil
	}
	out := []AdminPort{}
	for i, p := range *ports {
		w := fmt.Sprintf("%s[%d]", where, i)
		set := 0
		var ap AdminPort
		if p.PortNumber != nil {
			set++
			if err := validProtocol(w+".portNumber.protocol", p.PortNumber.Protocol); err != nil {
				return nil, err
			}
			ap = AdminPort{Protocol: p.PortNumber.Protocol, First: p.PortNumber.Port, Last: p.PortNumber.Port}
			if err := validRange(w+".portNumber.port", ap.First, ap.Last); err != nil {
				return nil, err
			}
		}
		if p.NamedPort != nil {
			set++
			if err := ValidPort(w+".namedPort", intstr.FromString(*p.NamedPort)); err != nil {
				return nil, err
			}
			ap = AdminPort{Named: *p.NamedPort}
		}
		if p.PortRange != nil {
			set++
			proto := p.PortRange.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			if err := validProtocol(w+".portRange.protocol", proto); err != nil {
				return nil, err
			}
			ap = AdminPort{Protocol: proto, First: p.PortRange.Start, Last: p.PortRange.End}
			if err := validRange(w+".portRange", ap.First, ap.Last); err != nil {
				return nil, err
			}
		}
		if set != 1 {
			return nil, fmt.Errorf("%s: needs exactly one of portNumber, namedPort or portRange", w)
		}
		out = append(out, ap)
	}
	return out, nil
}

// v1alpha2Ports: no protocols is every port; each entry is exactly one of tcp, udp, sctp
// (without destinationPort: all its ports) or destinationNamedPort.
func v1alpha2Ports(where string, protos []v1alpha2.ClusterNetworkPolicyProtocol) ([]AdminPort, error) {
	if len(protos) == 0 {
		return nil, nil
	}
	var out []AdminPort
	for i, p := range protos {
		w := fmt.Sprintf("%s[%d]", where, i)
		set := 0
		var ap AdminPort
		one := func(proto corev1.Protocol, field string, dp *v1alpha2.Port) error {
			set++
			ap = AdminPort{Protocol: proto}
			if dp == nil {
				return nil
			}
			switch {
			case dp.Number != 0 && dp.Range == nil:
				ap.First, ap.Last = dp.Number, dp.Number
			case dp.Number == 0 && dp.Range != nil:
				ap.First, ap.Last = dp.Range.Start, dp.Range.End
			default:
				return fmt.Errorf("%s.%s.destinationPort: needs exactly one of number or range", w, field)
			}
			return validRange(w+"."+field+".destinationPort", ap.First, ap.Last)
		}
		var err error
		if p.TCP != nil {
			err = one(corev1.ProtocolTCP, "tcp", p.TCP.DestinationPort)
		}
		if p.UDP != nil && err == nil {
			err = one(corev1.ProtocolUDP, "udp", p.UDP.DestinationPort)
		}
		if p.SCTP != nil && err == nil {
			err = one(corev1.ProtocolSCTP, "sctp", p.SCTP.DestinationPort)
		}
		if err != nil {
			return nil, err
		}
		if p.DestinationNamedPort != "" {
			set++
			if err := ValidPort(w+".destinationNamedPort", intstr.FromString(p.DestinationNamedPort)); err != nil {
				return nil, err
			}
			ap = AdminPort{Named: p.DestinationNamedPort}
		}
		if set != 1 {
			return nil, fmt.Errorf("%s: needs exactly one of tcp, udp, sctp or destinationNamedPort", w)
		}
		out = append(out, ap)
	}
	return out, nil
}
