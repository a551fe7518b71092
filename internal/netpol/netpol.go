package netpol

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Endpoint is one end of a connection: a pod (Pod true) or an address outside the cluster.
type Endpoint struct {
	Pod             bool
	Namespace       string
	NamespaceLabels map[string]string
	Labels          map[string]string
	// IP is matched by ipBlock peers; may be empty for a pod whose IP is not known yet,
	// in which case no ipBlock matches it.
	IP string
	// Ports are the pod's container ports, used to resolve named ports in policies.
	Ports []corev1.ContainerPort
}

// Connection is a connection attempt from Src to Dst on a destination port (the pod's
// port, after any Service translation).
type Connection struct {
	Src, Dst Endpoint
	Port     int32
	Protocol corev1.Protocol
}

// Verdict explains a decision.
type Verdict struct {
	Allowed bool
	// Reason is a short human explanation ("no egress policy selects src",
	// "ingress denied: isolated by [backend/default-deny]"...).
	Reason string
}

// Evaluator holds the policies in force.
type Evaluator struct {
	policies []networkingv1.NetworkPolicy
	// admin are the admin tiers' policies, sorted by tier and priority.
	admin []AdminPolicy
}

// New checks every policy's selectors once and returns an evaluator of the NetworkPolicies
// and the admin policies (admin.go) together.
func New(policies []networkingv1.NetworkPolicy, admin ...AdminPolicy) (*Evaluator, error) {
	for i := range policies {
		if err := Validate(&policies[i]); err != nil {
			return nil, fmt.Errorf("policy %s/%s: %w", policies[i].Namespace, policies[i].Name, err)
		}
	}
	admin = slices.Clone(admin)
	sortAdmin(admin)
	return &Evaluator{policies: policies, admin: admin}, nil
}

// Evaluate decides one connection: it must be allowed by the source's egress policies AND
// by the destination's ingress policies. Policies are a union: any rule of any policy that
// selects the pod for that direction allows the traffic; a pod selected by none is open.
func (e *Evaluator) Evaluate(c Connection) Verdict {
	if c.Protocol == "" {
		c.Protocol = corev1.ProtocolTCP
	}
	if c.Src.Pod {
		ok, why := e.direction(networkingv1.PolicyTypeEgress, c.Src, c.Dst, c)
		if !ok {
			return Verdict{false, "egress denied: " + why}
		}
	}
	if c.Dst.Pod {
		ok, why := e.direction(networkingv1.PolicyTypeIngress, c.Dst, c.Src, c)
		if !ok {
			return Verdict{false, "ingress denied: " + why}
		}
	}
	return Verdict{true, "allowed"}
}

// direction decides one direction for subject, against peer: the Admin tier, then the
// NetworkPolicies of that kind that select subject, then the Baseline tier (admin.go).
func (e *Evaluator) direction(kind networkingv1.PolicyType, subject, peer Endpoint, c Connection) (bool, string) {
	ingress := kind == networkingv1.PolicyTypeIngress
	if act, why, ok := tierDecision(e.admin, AdminTier, ingress, subject, peer, c); ok && act != Pass {
		return act == Allow, string(act) + " by " + why
	}
	if ok, why, isolated := e.networkPolicies(kind, subject, peer, c); isolated {
		return ok, why
	}
	if act, why, ok := tierDecision(e.admin, BaselineTier, ingress, subject, peer, c); ok && act != Pass {
		return act == Allow, string(act) + " by " + why
	}
	return true, "not isolated"
}

// networkPolicies evaluates the NetworkPolicies of one kind that select subject, against
// peer; isolated is false when none selects it.
func (e *Evaluator) networkPolicies(kind networkingv1.PolicyType, subject, peer Endpoint, c Connection) (allowed bool, why string, isolated bool) {
	var isolating []string
	for i := range e.policies {
		p := &e.policies[i]
		if p.Namespace != subject.Namespace || !hasType(p, kind) || !selects(&p.Spec.PodSelector, subject.Labels) {
			continue
		}
		isolating = append(isolating, p.Namespace+"/"+p.Name)
		if kind == networkingv1.PolicyTypeIngress {
			for _, r := range p.Spec.Ingress {
				if peersMatch(r.From, p.Namespace, peer) && portsMatch(r.Ports, c) {
					return true, "allowed by " + p.Namespace + "/" + p.Name, true
				}
			}
		} else {
			for _, r := range p.Spec.Egress {
				if peersMatch(r.To, p.Namespace, peer) && portsMatch(r.Ports, c) {
					return true, "allowed by " + p.Namespace + "/" + p.Name, true
				}
			}
		}
	}
	if len(isolating) == 0 {
		return true, "", false
	}
	return false, fmt.Sprintf("isolated by %v, no rule matches", isolating), true
}

// hasType applies the API's defaulting: without policyTypes, a policy is Ingress, plus
// Egress when it has egress rules.
func hasType(p *networkingv1.NetworkPolicy, kind networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return kind == networkingv1.PolicyTypeIngress || len(p.Spec.Egress) > 0
	}
	for _, t := range p.Spec.PolicyTypes {
		if t == kind {
			return true
		}
	}
	return false
}

// peersMatch: an empty list matches every peer; otherwise any one peer must match.
func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNS string, ep Endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for i := range peers {
		if peerMatches(&peers[i], policyNS, ep) {
			return true
		}
	}
	return false
}

func peerMatches(peer *networkingv1.NetworkPolicyPeer, policyNS string, ep Endpoint) bool {
	if peer.IPBlock != nil {
		return ipBlockMatches(peer.IPBlock, ep.IP)
	}
	if !ep.Pod {
		// Selectors only ever select pods.
		return false
	}
	if peer.NamespaceSelector == nil {
		// podSelector alone: pods of the policy's own namespace.
		return ep.Namespace == policyNS && selects(peer.PodSelector, ep.Labels)
	}
	if !selects(peer.NamespaceSelector, ep.NamespaceLabels) {
		return false
	}
	// namespaceSelector alone selects all pods of those namespaces; with a podSelector
	// both must hold.
	return peer.PodSelector == nil || selects(peer.PodSelector, ep.Labels)
}

func ipBlockMatches(b *networkingv1.IPBlock, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	cidr := netip.MustParsePrefix(b.CIDR) // validated in New
	if !cidr.Contains(addr) {
		return false
	}
	for _, ex := range b.Except {
		if netip.MustParsePrefix(ex).Contains(addr) {
			return false
		}
	}
	return true
}

// portsMatch: an empty list matches every port and protocol.
func portsMatch(ports []networkingv1.NetworkPolicyPort, c Connection) bool {
	if len(ports) == 0 {
		return true
	}
	for i := range ports {
		if portMatches(&ports[i], c) {
			return true
		}
	}
	return false
}

func portMatches(p *networkingv1.NetworkPolicyPort, c Connection) bool {
	proto := corev1.ProtocolTCP
	if p.Protocol != nil {
		proto = *p.Protocol
	}
	if proto != c.Protocol {
		return false
	}
	if p.Port == nil {
		return true // all ports of that protocol
	}
	if p.Port.StrVal != "" {
		return namedPortIs(p.Port.StrVal, c)
	}
	lo := p.Port.IntVal
	hi := lo
	if p.EndPort != nil {
		hi = *p.EndPort
	}
	return c.Port >= lo && c.Port <= hi
}

// namedPortIs: a named port refers to the destination pod's container port of that name
// (and its protocol).
func namedPortIs(name string, c Connection) bool {
	for _, cp := range c.Dst.Ports {
		cpProto := cp.Protocol
		if cpProto == "" {
			cpProto = corev1.ProtocolTCP
		}
		if c.Dst.Pod && cp.Name == name && cp.ContainerPort == c.Port && cpProto == c.Protocol {
			return true
		}
	}
	return false
}

func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false // rejected in New
	}
	return s.Matches(labels.Set(l))
}

// Validate checks what the API server would refuse in a policy: selectors that do not
// parse, a peer with both ipBlock and a selector (or neither), bad CIDRs, a protocol other
// than TCP, UDP or SCTP, an endPort without a numeric port below it, unknown policyTypes.
func Validate(p *networkingv1.NetworkPolicy) error {
	if err := validSelector("spec.podSelector", &p.Spec.PodSelector); err != nil {
		return err
	}
	for i, r := range p.Spec.Ingress {
		if err := validPeers(fmt.Sprintf("spec.ingress[%d].from", i), r.From); err != nil {
			return err
		}
		if err := validPorts(fmt.Sprintf("spec.ingress[%d].ports", i), r.Ports); err != nil {
			return err
		}
	}
	for i, r := range p.Spec.Egress {
		if err := validPeers(fmt.Sprintf("spec.egress[%d].to", i), r.To); err != nil {
			return err
		}
		if err := validPorts(fmt.Sprintf("spec.egress[%d].ports", i), r.Ports); err != nil {
			return err
		}
	}
	for _, t := range p.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			return fmt.Errorf("spec.policyTypes: %q is not Ingress or Egress", t)
		}
	}
	return nil
}

func validSelector(where string, sel *metav1.LabelSelector) error {
	if sel == nil {
		return nil
	}
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// validPeers: each peer is exactly one of ipBlock (valid CIDRs) or selectors (valid ones).
func validPeers(where string, ps []networkingv1.NetworkPolicyPeer) error {
	for i, peer := range ps {
		w := fmt.Sprintf("%s[%d]", where, i)
		set := 0
		if peer.PodSelector != nil || peer.NamespaceSelector != nil {
			set++
		}
		if peer.IPBlock != nil {
			set++
			for _, cidr := range append([]string{peer.IPBlock.CIDR}, peer.IPBlock.Except...) {
				if _, err := netip.ParsePrefix(cidr); err != nil {
					field := ".ipBlock.cidr"
					if cidr != peer.IPBlock.CIDR {
						field = ".ipBlock.except"
					}
					return fmt.Errorf("%s%s: %w", w, field, err)
				}
			}
		}
		if set != 1 {
			return fmt.Errorf("%s: a peer needs exactly one of ipBlock or podSelector/namespaceSelector", w)
		}
		if err := validSelector(w+".podSelector", peer.PodSelector); err != nil {
			return err
		}
		if err := validSelector(w+".namespaceSelector", peer.NamespaceSelector); err != nil {
			return err
		}
	}
	return nil
}

// validPorts: protocols the API knows, and an endPort only after a numeric port not above it.
func validPorts(where string, ps []networkingv1.NetworkPolicyPort) error {
	for i, port := range ps {
		w := fmt.Sprintf("%s[%d]", where, i)
		if port.Protocol != nil {
			switch *port.Protocol {
			case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
			default:
				return fmt.Errorf("%s.protocol: %q is not TCP, UDP or SCTP", w, *port.Protocol)
			}
		}
		if port.Port != nil {
			if err := ValidPort(w+".port", *port.Port); err != nil {
				return err
			}
		}
		if port.EndPort != nil && (port.Port == nil || port.Port.StrVal != "" || *port.EndPort < port.Port.IntVal) {
			return fmt.Errorf("%s.endPort: needs a numeric port not above it", w)
		}
		if port.EndPort != nil && *port.EndPort > 65535 {
			return fmt.Errorf("%s.endPort: %d is not a port (1-65535)", w, *port.EndPort)
		}
	}
	return nil
}

// ValidPort checks a port as the API server does: a number 1-65535, or a port name (at most
// 15 lower-case letters, digits and '-', with a letter, not starting or ending with '-',
// no "--").
func ValidPort(where string, p intstr.IntOrString) error {
	if p.Type == intstr.String {
		if errs := validation.IsValidPortName(p.StrVal); len(errs) > 0 {
			return fmt.Errorf("%s: %q is not a valid port name: %s", where, p.StrVal, strings.Join(errs, "; "))
		}
		return nil
	}
	if p.IntVal < 1 || p.IntVal > 65535 {
		return fmt.Errorf("%s: %d is not a port (1-65535)", where, p.IntVal)
	}
	return nil
}

// AsServed is a NetworkPolicy as the API server stores and serves it: empty lists dropped (a
// JSON round trip: its fields are omitempty, so "ingress: []" comes back absent),
// policyTypes defaulted (Ingress, plus Egress when it has egress rules) and every port's
// protocol defaulted to TCP. Engines written against served objects read these.
func AsServed(p *networkingv1.NetworkPolicy) (*networkingv1.NetworkPolicy, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	held := &networkingv1.NetworkPolicy{}
	if err := json.Unmarshal(data, held); err != nil {
		return nil, err
	}
	if len(held.Spec.PolicyTypes) == 0 {
		held.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(held.Spec.Egress) > 0 {
			held.Spec.PolicyTypes = append(held.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	tcp := corev1.ProtocolTCP
	defaultProtocols := func(ports []networkingv1.NetworkPolicyPort) {
		for j := range ports {
			if ports[j].Protocol == nil {
				ports[j].Protocol = &tcp
			}
		}
	}
	for i := range held.Spec.Ingress {
		defaultProtocols(held.Spec.Ingress[i].Ports)
	}
	for i := range held.Spec.Egress {
		defaultProtocols(held.Spec.Egress[i].Ports)
	}
	return held, nil
}
