package scenario

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

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

// peerMatrixFamilies is the peer's matrix over both families: the IPv4 columns, then every
// column again over IPv6 (named as a dual-stack run names them), each family computed with
// its own addresses.
func peerMatrixFamilies(s *Scenario, st *State) (*matrix.Matrix, error) {
	v4, err := peerMatrixFor(s, st, peerAddrs{"10.244.1.10", "10.96.0.10", s.External.IP})
	if err != nil {
		return nil, err
	}
	v6, err := peerMatrixFor(s, st, peerAddrs{"fd00:10:244:1::a", "fd00:10:96::a", s.External.IPv6})
	if err != nil {
		return nil, err
	}
	return mergeFamilies(v4, v6), nil
}

// peerMatrix computes a state's IPv4 matrix with cyclonus.
func peerMatrix(s *Scenario, st *State) (*matrix.Matrix, error) {
	return peerMatrixFor(s, st, peerAddrs{"10.244.1.10", "10.96.0.10", s.External.IP})
}

// peerMatrixFor computes a state's matrix with cyclonus, for one family's addresses.
func peerMatrixFor(s *Scenario, st *State, a peerAddrs) (*matrix.Matrix, error) {
	targets, err := st.Targets(s)
	if err != nil {
		return nil, err
	}
	policy := matcher.BuildNetworkPolicies(false, st.Policies)
	var rows, cols []string
	for _, src := range st.Sources() {
		rows = append(rows, src.ID)
	}
	for _, t := range targets {
		cols = append(cols, t.ID)
	}
	m := matrix.New(rows, cols, matrix.NotProbed)
	for r, src := range st.Sources() {
		for c, t := range targets {
			tr := &matcher.Traffic{Source: st.peerPod(src.Deployment, a.pod), Protocol: corev1.ProtocolTCP, ResolvedPort: int(t.Port)}
			switch t.Kind {
			case ServiceTarget:
				if t.Backend == src.Deployment {
					continue
				}
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
			v := matrix.Blocked
			if policy.IsTrafficAllowed(tr).IsAllowed() {
				v = matrix.Allowed
			}
			m.Cells[r][c] = v
		}
	}
	return m, nil
}

// peerPod is a pod as cyclonus sees it. Its IP is one of kind's pod subnet: only ipBlock
// rules read it, and none of ours names the pod subnet.
func (st *State) peerPod(d *appsv1.Deployment, ip string) *matcher.TrafficPeer {
	return &matcher.TrafficPeer{
		Internal: &matcher.InternalPeer{PodLabels: d.Spec.Template.Labels, NamespaceLabels: NamespaceLabels(st.namespace(d.Namespace)), Namespace: d.Namespace},
		IP:       ip,
	}
}

// TestThreeOraclesAgree: for every step, the hand-kept fixture, our evaluator and the peer
// engine give the same verdict in every cell; a disagreement names the cell and what each
// of the three says.
func TestThreeOraclesAgree(t *testing.T) {
	s, states := loadRepo(t)
	n := 0
	for i := range s.Steps {
		step := &s.Steps[i]
		if step.Fixture == "" {
			continue
		}
		n++
		t.Run(step.Name, func(t *testing.T) {
			declared, err := s.LoadFixture(step, states[i])
			require.NoError(t, err)
			if *printComputed {
				ours, err := states[i].Expected(s, s.External.IP)
				require.NoError(t, err)
				t.Logf("computed by internal/netpol for %s:\n%s", step.Fixture, FormatFixture(step.Name, ours))
			}
			// Both families, as a dual-stack run expects them: the one fixture serves both.
			ours, err := states[i].ExpectedFamilies(s, Externals{V4: s.External.IP, V6: s.External.IPv6}, false)
			require.NoError(t, err)
			peer, err := peerMatrixFamilies(s, states[i])
			require.NoError(t, err)
			if d := disagreements(WithIPv6(declared), ours, peer); d != "" {
				t.Fatalf("%s: the oracles disagree (fixture / internal/netpol / cyclonus):\n%s", step.Fixture, d)
			}
		})
	}
	require.Equal(t, 9, n, "every step but cleanup has a fixture")
}

// disagreements lists every cell where the three matrices are not unanimous: every cell
// of the three shapes, the unprobed ("-", self-to-self) ones too, and any row or column
// one of them lacks.
func disagreements(declared, ours, peer *matrix.Matrix) string {
	var b strings.Builder
	rows := unionOf(declared.Rows, ours.Rows, peer.Rows)
	cols := unionOf(declared.Cols, ours.Cols, peer.Cols)
	for _, r := range rows {
		for _, c := range cols {
			d, okD := declared.Get(r, c)
			o, okO := ours.Get(r, c)
			p, okP := peer.Get(r, c)
			if !okD || !okO || !okP || d != o || d != p {
				fmt.Fprintf(&b, "  %s -> %s: fixture %s, evaluator %s, cyclonus %s\n", r, c, has(okD, d), has(okO, o), has(okP, p))
			}
		}
	}
	return b.String()
}

func unionOf(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, x := range l {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	return out
}

// has names a verdict, or its absence.
func has(ok bool, v matrix.Verdict) string {
	if !ok {
		return "(no such cell)"
	}
	return v.String()
}

// TestPeerOracleCanDisagree is the peer's control: a fixture cell flipped by hand must be
// reported with what each oracle says, so agreement above is not agreement by default.
func TestPeerOracleCanDisagree(t *testing.T) {
	s, states := loadRepo(t)
	i := len(states) - 2 // the end state
	declared, err := s.LoadFixture(&s.Steps[i], states[i])
	require.NoError(t, err)
	ours, err := states[i].Expected(s, s.External.IP)
	require.NoError(t, err)
	peer, err := peerMatrix(s, states[i])
	require.NoError(t, err)
	require.NoError(t, declared.Set("pci/payments", "queue:5000", matrix.Blocked))
	require.Equal(t, "  pci/payments -> queue:5000: fixture blocked, evaluator allowed, cyclonus allowed\n", disagreements(declared, ours, peer))
	// A "-" cell is compared too: a fixture that stops probing a cell is a disagreement.
	require.NoError(t, declared.Set("pci/payments", "queue:5000", matrix.NotProbed))
	require.Equal(t, "  pci/payments -> queue:5000: fixture not-probed, evaluator allowed, cyclonus allowed\n", disagreements(declared, ours, peer))
	// And the IPv6 half: a peer that judged one IPv6 cell otherwise is reported.
	require.NoError(t, declared.Set("pci/payments", "queue:5000", matrix.Allowed))
	ours6, err := states[i].ExpectedFamilies(s, Externals{V4: s.External.IP, V6: s.External.IPv6}, false)
	require.NoError(t, err)
	peer6, err := peerMatrixFamilies(s, states[i])
	require.NoError(t, err)
	require.NoError(t, peer6.Set("pci/payments", "external:8080"+IPv6Column, matrix.Allowed))
	require.Equal(t, "  pci/payments -> external:8080@ipv6: fixture blocked, evaluator blocked, cyclonus allowed\n", disagreements(WithIPv6(declared), ours6, peer6))
}

// The rollout's negative control predicts its leak with our evaluator (State.DeletionOpens);
// the peer engine must predict the same cells, so the control is not judged by the code it
// checks alone.
func TestDeletionPredictionAgreesWithPeer(t *testing.T) {
	s, states := loadRepo(t)
	end := states[8]
	refs := []string{"pci/default-deny-pci", "pci/allow-management-ui"}
	_, opened, err := end.DeletionOpens(s, Externals{V4: s.External.IP}, refs)
	require.NoError(t, err)

	without := end.Clone()
	without.Policies = slices.DeleteFunc(without.Policies, func(p *networkingv1.NetworkPolicy) bool {
		return slices.Contains(refs, p.Namespace+"/"+p.Name)
	})
	before, err := peerMatrix(s, end)
	require.NoError(t, err)
	after, err := peerMatrix(s, without)
	require.NoError(t, err)
	var peerOpened []matrix.Cell
	for _, c := range before.ProbedCells() {
		b, _ := before.Get(c.Row, c.Col)
		a, _ := after.Get(c.Row, c.Col)
		if b == matrix.Blocked && a == matrix.Allowed {
			peerOpened = append(peerOpened, c)
		}
	}
	require.ElementsMatch(t, peerOpened, opened)
	require.Len(t, opened, 4)
}
