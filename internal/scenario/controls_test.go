package scenario

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// predict asks the one prediction (State.Predict, which the live control uses too) what a
// control variant changes at a step, as probes by name see it.
func predict(t *testing.T, step, variant string) []matrix.Mismatch {
	t.Helper()
	s, states := loadRepo(t)
	for i := range s.Steps {
		if s.Steps[i].Name != step {
			continue
		}
		objs, err := LoadObjects(variant)
		require.NoError(t, err)
		p, err := states[i].Predict(s, Externals{V4: s.External.IP}, Change{Name: "control", Apply: objs}, true)
		require.NoError(t, err)
		return p.Changed
	}
	t.Fatalf("no step %s", step)
	return nil
}

func TestControlWithoutPort53BreaksNameResolutionInPCI(t *testing.T) {
	mm := predict(t, "06-pci-policy", "../../policies/controls/pci-policy-without-dns.yaml")
	got := map[string]matrix.Verdict{}
	for _, m := range mm {
		require.Equal(t, "pci/payments", m.Row, "only payments changes")
		got[m.Col] = m.Got
	}
	require.Equal(t, map[string]matrix.Verdict{
		"dns:53/udp": matrix.Blocked, "dns:53/tcp": matrix.Blocked,
		"management-ui:9001": matrix.DNSFailure, "client:9000": matrix.DNSFailure, "facade:80": matrix.DNSFailure,
		"backend:6379": matrix.DNSFailure, "queue:5000": matrix.DNSFailure,
	}, got)
}

func TestSelfCheckVariantChangesExactlyOneCell(t *testing.T) {
	mm := predict(t, "08-payments-policy", "../../policies/controls/backend-policy-wrong-port.yaml")
	require.Len(t, mm, 1)
	require.Equal(t, matrix.Mismatch{Row: "backend/facade", Col: "backend:6379", Want: matrix.Allowed, Got: matrix.Blocked}, mm[0])
}

// The ipBlock controls of a dual-stack run each change exactly one cell, of one family:
// the proof that a family's columns are really probed over that family.
func TestIPBlockControlsChangeOneFamily(t *testing.T) {
	s, states := loadRepo(t)
	end := states[8]
	ext := Externals{V4: s.External.IP, V6: s.External.IPv6}
	for file, col := range map[string]string{
		"../../policies/controls/frontend-egress-without-external-ipv6.yaml": "external:8080@ipv6",
		"../../policies/controls/frontend-egress-without-external-ipv4.yaml": "external:8080",
	} {
		objs, err := LoadObjects(file)
		require.NoError(t, err)
		p, err := end.Predict(s, ext, Change{Name: "control", Apply: objs}, true)
		require.NoError(t, err)
		require.Equal(t, []matrix.Mismatch{{Row: "frontend/client", Col: col, Want: matrix.Allowed, Got: matrix.Blocked}}, p.Changed, file)
	}
	// Without the IPv6 half (an IPv4 run) the IPv6 control changes nothing: it proves
	// nothing there, and the harness refuses such a control.
	objs, err := LoadObjects("../../policies/controls/frontend-egress-without-external-ipv6.yaml")
	require.NoError(t, err)
	p, err := end.Predict(s, Externals{V4: s.External.IP}, Change{Name: "control", Apply: objs}, true)
	require.NoError(t, err)
	require.Empty(t, p.Changed)
}

// The admin layer's controls, in both forms, at the end state: each mutated admin policy
// changes exactly the cells listed here by hand from its comment.
func TestAdminControlsChangeTheirCells(t *testing.T) {
	ui, client, facade := "management-ui/management-ui", "frontend/client", "backend/facade"
	for _, api := range []string{"v1alpha1", "v1alpha2"} {
		s, _ := loadRepo(t)
		require.NoError(t, s.SelectAdminAPI(api))
		states, err := s.States()
		require.NoError(t, err)
		end := states[len(states)-2]
		for file, want := range map[string][]matrix.Mismatch{
			"backend-priorities-swapped.yaml": {
				{Row: ui, Col: "facade:80", Want: matrix.Allowed, Got: matrix.Blocked},
				{Row: ui, Col: "backend:6379", Want: matrix.Allowed, Got: matrix.Blocked},
				{Row: facade, Col: "backend:6379", Want: matrix.Allowed, Got: matrix.Blocked},
			},
			"backend-lockdown-pass.yaml": {
				{Row: client, Col: "facade:80", Want: matrix.Blocked, Got: matrix.Allowed},
			},
		} {
			objs, err := LoadObjects("../../policies/controls/admin/" + api + "/" + file)
			require.NoError(t, err)
			p, err := end.Predict(s, Externals{V4: s.External.IP}, Change{Name: "control", Apply: objs}, true)
			require.NoError(t, err)
			require.ElementsMatch(t, want, p.Changed, api+"/"+file)
			if api == "v1alpha1" {
				// kube-network-policies on the mutated state agrees, every cell, both families.
				ext := Externals{V4: s.External.IP, V6: s.External.IPv6}
				ours, err := p.After.ExpectedFamilies(s, ext, false)
				require.NoError(t, err)
				byKNP, err := knpMatrix(s, p.After, ext)
				require.NoError(t, err)
				require.Empty(t, disagreements(ours, ours, byKNP), file)
			}
		}
	}
}
