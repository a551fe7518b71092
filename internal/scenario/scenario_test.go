package scenario

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// printComputed shows what the evaluator computes for each step, for a person writing or
// reviewing a fixture by hand. Nothing writes fixtures: they are the hand-kept oracle.
var printComputed = flag.Bool("print-computed", false, "log each step's computed matrix and its diff from the fixture (never written anywhere)")

const repoScenario = "../../scenario.yaml"

func loadRepo(t *testing.T) (*Scenario, []*State) {
	t.Helper()
	s, err := Load(repoScenario)
	require.NoError(t, err)
	states, err := s.States()
	require.NoError(t, err)
	return s, states
}

func cell(t *testing.T, s *Scenario, states []*State, step, from, to string) matrix.Verdict {
	t.Helper()
	for i := range s.Steps {
		if s.Steps[i].Name == step {
			m, err := s.LoadFixture(&s.Steps[i], states[i])
			require.NoError(t, err)
			v, ok := m.Get(from, to)
			require.True(t, ok, "%s has no cell %s -> %s", step, from, to)
			return v
		}
	}
	t.Fatalf("no step %s", step)
	return 0
}

// TestWorkshopClaims encodes the workshop's prose, sentence by sentence, against the
// declared fixtures.
func TestWorkshopClaims(t *testing.T) {
	s, st := loadRepo(t)
	const (
		ui, client, facade, backend = "management-ui/management-ui", "frontend/client", "backend/facade", "backend/backend"
		queue, payments             = "infrastructure/queue", "pci/payments"
	)
	allowed, blocked := matrix.Allowed, matrix.Blocked
	claims := []struct {
		claim, step, from, to string
		want                  matrix.Verdict
	}{
		{"badly configured: every service reaches every other", "00-deploy-v1", client, "backend:6379", allowed},
		{"the frontend talks to the backend directly", "00-deploy-v1", client, "backend:6379", allowed},
		{"the facade talks to the frontend", "00-deploy-v1", facade, "client:9000", allowed},
		{"default deny: the UI can't even access the app pods", "01-default-deny", ui, "client:9000", blocked},
		{"default deny: the UI can't even access the facade", "01-default-deny", ui, "facade:80", blocked},
		{"default deny leaves the UI's own namespace open", "01-default-deny", client, "management-ui:9001", allowed},
		{"after allow-management-ui the UI sees all components", "02-allow-management-ui", ui, "backend:6379", allowed},
		{"...but they are still isolated", "02-allow-management-ui", facade, "backend:6379", blocked},
		{"backend policy: the facade reaches the backend", "03-backend-policy", facade, "backend:6379", allowed},
		{"backend policy: the client is still isolated", "03-backend-policy", client, "facade:80", blocked},
		{"backend policy: the client can't reach the backend", "03-backend-policy", client, "backend:6379", blocked},
		{"facade policy: the client reaches the facade", "04-facade-policy", client, "facade:80", allowed},
		{"facade policy: the client still can't skip the facade", "04-facade-policy", client, "backend:6379", blocked},
		{"facade policy: the backend can't call the facade", "04-facade-policy", backend, "facade:80", blocked},
		{"facade policy: the backend can't call the client", "04-facade-policy", backend, "client:9000", blocked},
		{"v2: the queue is isolated by the default ingress policy", "05-deploy-v2", facade, "queue:5000", blocked},
		{"v2: payments is isolated by the default ingress policy", "05-deploy-v2", backend, "payments:6380", blocked},
		{"v2: the UI sees the queue", "05-deploy-v2", ui, "queue:5000", allowed},
		{"v2: payments can still leave the cluster", "05-deploy-v2", payments, "external:8080", allowed},
		{"pci policy: the UI doesn't change", "06-pci-policy", ui, "payments:6380", allowed},
		{"pci policy: port 53 stays open, DNS resolves", "06-pci-policy", payments, "dns:53/udp", allowed},
		{"pci policy: no traffic leaves the cluster from pci", "06-pci-policy", payments, "external:8080", blocked},
		{"pci policy: other namespaces still leave the cluster", "06-pci-policy", client, "external:8080", allowed},
		{"queue policy: backend publishes to the queue", "07-queue-policy", backend, "queue:5000", allowed},
		{"queue policy: the facade publishes to the queue", "07-queue-policy", facade, "queue:5000", allowed},
		{"queue policy: payments still can't (egress blocks it)", "07-queue-policy", payments, "queue:5000", blocked},
		{"queue policy: the client has no requires=queue", "07-queue-policy", client, "queue:5000", blocked},
		{"payments policy: payments reaches the queue", "08-payments-policy", payments, "queue:5000", allowed},
		{"payments policy: payments sends nowhere but infrastructure", "08-payments-policy", payments, "backend:6379", blocked},
		{"payments policy: payments can't reach the UI", "08-payments-policy", payments, "management-ui:9001", blocked},
		{"payments policy: still no traffic out of the cluster", "08-payments-policy", payments, "external:8080", blocked},
		{"payments policy: DNS still resolves", "08-payments-policy", payments, "dns:53/udp", allowed},
		{"ingress rules stop new services receiving traffic", "08-payments-policy", queue, "payments:6380", blocked},
	}
	for _, c := range claims {
		require.Equal(t, c.want.String(), cell(t, s, st, c.step, c.from, c.to).String(), "%s: %s -> %s at %s", c.claim, c.from, c.to, c.step)
	}
}

func TestCleanupLeavesNothing(t *testing.T) {
	_, states := loadRepo(t)
	last := states[len(states)-1]
	require.Empty(t, last.Namespaces)
	require.Empty(t, last.Deployments)
	require.Empty(t, last.Policies)
}

// TestPolicyMutationsAreCaught changes one port, protocol, label or selector of one policy
// at a time. The peer engine (cyclonus) says which cells, over all steps, the mutation
// changes; our evaluator must then disagree with the fixtures on exactly those cells, and a
// mutation listed as real must change at least one. Equivalent mutations (the peer sees no
// change either) are listed apart, each with the reason it changes nothing here.
func TestPolicyMutationsAreCaught(t *testing.T) {
	t.Run("unmutated", func(t *testing.T) {
		peer, ours := mutationDiffs(t, "", nil)
		require.Empty(t, peer)
		require.Empty(t, ours)
	})
	for _, mut := range policyMutations {
		t.Run(mut.name, func(t *testing.T) {
			peer, ours := mutationDiffs(t, mut.policy, mut.apply)
			require.NotEmpty(t, peer, "the peer engine sees no change: move %q to equivalentMutations with the reason", mut.name)
			require.Equal(t, peer, ours, "cells changed by %q: cyclonus (want) vs internal/netpol (got)", mut.name)
		})
	}
	for _, mut := range equivalentMutations {
		t.Run("equivalent/"+mut.name, func(t *testing.T) {
			peer, ours := mutationDiffs(t, mut.policy, mut.apply)
			require.Empty(t, peer, "the peer engine says %q changes cells", mut.name)
			require.Empty(t, ours, "the evaluator says %q changes cells", mut.name)
		})
	}
}

// mutationDiffs mutates one policy of a freshly loaded scenario (none when policy is "")
// and lists, over all steps, the cells where the fixtures disagree with the peer engine
// and with our evaluator.
func mutationDiffs(t *testing.T, policy string, apply func(*networkingv1.NetworkPolicy)) (peer, ours []string) {
	t.Helper()
	s, _ := loadRepo(t)
	if policy != "" {
		apply(findPolicy(t, s, policy))
	}
	states, err := s.States()
	require.NoError(t, err)
	diff := func(step string, declared, m *matrix.Matrix) []string {
		mm, err := matrix.Compare(declared, m)
		require.NoError(t, err)
		var out []string
		for _, x := range mm {
			out = append(out, step+": "+x.String())
		}
		return out
	}
	for i := range s.Steps {
		// The peer engine knows NetworkPolicy only: the steps with admin policies in force
		// have their own mutations (TestAdminMutationsAreCaught).
		if s.Steps[i].Fixture == "" || len(states[i].Admin) > 0 {
			continue
		}
		declared, err := s.LoadFixture(&s.Steps[i], states[i])
		require.NoError(t, err)
		declared = IPv4Only(declared)
		computed, err := states[i].Expected(s, s.External.IP)
		require.NoError(t, err)
		byPeer, err := peerMatrixV4(s, states[i])
		require.NoError(t, err)
		ours = append(ours, diff(s.Steps[i].Name, declared, computed)...)
		peer = append(peer, diff(s.Steps[i].Name, declared, byPeer)...)
	}
	return peer, ours
}

func TestScenarioFilesExist(t *testing.T) {
	s, _ := loadRepo(t)
	for _, st := range s.Steps {
		for _, p := range st.Apply {
			_, err := os.Stat(filepath.Join(s.Dir, p))
			require.NoError(t, err)
		}
	}
}
