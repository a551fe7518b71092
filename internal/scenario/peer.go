package scenario

import (
	"github.com/mattfenwick/cyclonus/pkg/matcher"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// The third oracle: cyclonus's NetworkPolicy matcher (github.com/mattfenwick/cyclonus,
// kept by others; its engine became the Kubernetes network-policy-api project's
// policy-assistant) decides every cell from the same objects our evaluator reads. It shares
// nothing with internal/netpol: only the inputs (labels, namespaces, ports, the external
// host's address) are taken from the loaded scenario.
//
// Cells it covers: every service cell (pod to pod on the container port, named ports
// resolved by name), both DNS cells (pod to the DNS pods' labels on 53/UDP and 53/TCP) and
// the external host (traffic to an IP outside every pod, ipBlock rules apply). What it
// cannot say: that a source whose DNS is blocked fails every probe by name; that is a
// property of the probe, applied by NamesNeedDNS, and not part of any fixture.

// peerAddrs are the addresses cyclonus is given for one IP family: a pod's, the DNS
// Service's and the external host's (only ipBlock rules read them).
type peerAddrs struct{ pod, dns, external string }

// PeerMatrix is the peer engine's matrix of a state, the external host at ext: the IPv4
// columns and, with ext.V6 set, every column again over IPv6 (named as a dual-stack run
// names them), each family computed with its own addresses. The state's policies are what
// it judges: the loader's, or (live) the ones the API server holds.
func PeerMatrix(s *Scenario, st *State, ext Externals) (*matrix.Matrix, error) {
	v4, err := peerMatrixFor(s, st, peerAddrs{"10.244.1.10", "10.96.0.10", ext.V4})
	if err != nil || ext.V6 == "" {
		return v4, err
	}
	v6, err := peerMatrixFor(s, st, peerAddrs{"fd00:10:244:1::a", "fd00:10:96::a", ext.V6})
	if err != nil {
		return nil, err
	}
	return mergeFamilies(v4, v6), nil
}

// peerMatrixFor computes a state's matrix with cyclonus, for one family's addresses.
func peerMatrixFor(s *Scenario, st *State, a peerAddrs) (*matrix.Matrix, error) {
	policy := matcher.BuildNetworkPolicies(false, st.Policies)
	return st.decideEach(s, func(src Source, t Target) bool {
		tr := &matcher.Traffic{Source: st.peerPod(src.Deployment, a.pod), Protocol: corev1.ProtocolTCP, ResolvedPort: int(t.Port)}
		switch t.Kind {
		case ServiceTarget:
			tr.Destination = st.peerPod(t.Backend, a.pod)
			tr.ResolvedPort, tr.ResolvedPortName, tr.Protocol = int(t.PodPort.ContainerPort), t.PodPort.Name, t.PodPort.Protocol
		case DNSLookupTarget:
			ns := &corev1.Namespace{}
			ns.Name = t.DNS.Namespace
			tr.Destination = &matcher.TrafficPeer{
				Internal: &matcher.InternalPeer{PodLabels: t.DNS.PodLabels, NamespaceLabels: NamespaceLabels(ns), Namespace: t.DNS.Namespace},
				IP:       a.dns,
			}
			tr.ResolvedPortName, tr.Protocol = "dns", t.DNS.Protocol
		case ExternalHostTarget:
			tr.Destination = &matcher.TrafficPeer{IP: a.external}
		}
		return policy.IsTrafficAllowed(tr).IsAllowed()
	})
}

// peerPod is a pod as cyclonus sees it. Its IP is one of kind's pod subnet: only ipBlock
// rules read it, and none of ours names the pod subnet.
func (st *State) peerPod(d *appsv1.Deployment, ip string) *matcher.TrafficPeer {
	return &matcher.TrafficPeer{
		Internal: &matcher.InternalPeer{PodLabels: d.Spec.Template.Labels, NamespaceLabels: NamespaceLabels(st.namespace(d.Namespace)), Namespace: d.Namespace},
		IP:       ip,
	}
}
