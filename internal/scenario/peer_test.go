package scenario

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// TestThreeOraclesAgree: for every step, the hand-kept fixture, our evaluator and the peer
// engine give the same verdict in every cell; a disagreement names the cell and what each
// of the three says.
//
// Every step once per admin form (the same fixture serves both). cyclonus knows
// NetworkPolicy only: on the admin steps it judges the namespaces' layer (the state without
// its admin policies, against our evaluator on the same). In the v1alpha1 form
// kube-network-policies (internal/knp) judges every cell of every step, the admin ones
// included; for v1alpha2 no engine kept by others exists, and the admin cells there have
// the fixture and the evaluator (README, "Admin policies").
func TestThreeOraclesAgree(t *testing.T) {
	ext := Externals{V4: "172.18.0.5", V6: "fc00:f853:ccd:e793::c8"}
	n := 0
	for _, api := range []string{"v1alpha1", "v1alpha2"} {
		s, _ := loadRepo(t)
		require.NoError(t, s.SelectAdminAPI(api))
		states, err := s.States()
		require.NoError(t, err)
		for i := range s.Steps {
			step := &s.Steps[i]
			if step.Fixture == "" {
				continue
			}
			n++
			t.Run(step.Name+"/"+api, func(t *testing.T) {
				declared, err := s.LoadFixture(step, states[i])
				require.NoError(t, err)
				if *printComputed {
					ours, err := states[i].ExpectedFamilies(s, ext, false)
					require.NoError(t, err)
					t.Logf("computed by internal/netpol for %s:\n%s", step.Fixture, FormatFixture(step.Name, ours))
				}
				// Both families, as a dual-stack run expects them: the one fixture serves both.
				ours, err := states[i].ExpectedFamilies(s, ext, false)
				require.NoError(t, err)
				namespaces := states[i].WithoutAdmin()
				peer, err := PeerMatrix(s, namespaces, ext)
				require.NoError(t, err)
				if api == "v1alpha1" {
					// kube-network-policies judges every cell, the admin ones included.
					byKNP, err := knpMatrix(s, states[i], ext)
					require.NoError(t, err)
					if d := disagreements(WithIPv6(declared), ours, byKNP); d != "" {
						t.Fatalf("%s: the oracles disagree (fixture / internal/netpol / kube-network-policies):\n%s", step.Fixture, d)
					}
				}
				if len(states[i].Admin) == 0 {
					if d := disagreements(WithIPv6(declared), ours, peer); d != "" {
						t.Fatalf("%s: the oracles disagree (fixture / internal/netpol / cyclonus):\n%s", step.Fixture, d)
					}
					return
				}
				if d := disagreements(WithIPv6(declared), ours, ours); d != "" {
					t.Fatalf("%s (%s form): the fixture and internal/netpol disagree:\n%s", step.Fixture, api, d)
				}
				oursNP, err := namespaces.ExpectedFamilies(s, ext, false)
				require.NoError(t, err)
				if d := disagreements(oursNP, oursNP, peer); d != "" {
					t.Fatalf("%s without its admin policies: internal/netpol and cyclonus disagree:\n%s", step.Fixture, d)
				}
			})
		}
	}
	require.Equal(t, 2*13, n, "every step but cleanup has a fixture, judged in both forms")
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
	i := slices.IndexFunc(s.Steps, func(st Step) bool { return st.Name == "08-payments-policy" }) // the workshop's end state
	declared, err := s.LoadFixture(&s.Steps[i], states[i])
	require.NoError(t, err)
	ours, err := states[i].Expected(s, s.External.IP)
	require.NoError(t, err)
	peer, err := peerMatrixV4(s, states[i])
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
	peer6, err := PeerMatrix(s, states[i], Externals{V4: s.External.IP, V6: s.External.IPv6})
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
	before, err := peerMatrixV4(s, end)
	require.NoError(t, err)
	after, err := peerMatrixV4(s, without)
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

// peerMatrixV4 is the peer's IPv4 matrix, as the single-family tests compare it.
func peerMatrixV4(s *Scenario, st *State) (*matrix.Matrix, error) {
	return PeerMatrix(s, st, Externals{V4: s.External.IP})
}
