package scenario

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// predict applies a control variant on top of a step's state and returns the cells that
// change against that step's fixture, as the live control will expect them.
func predict(t *testing.T, step, variant string) []matrix.Mismatch {
	t.Helper()
	s, states := loadRepo(t)
	for i := range s.Steps {
		if s.Steps[i].Name != step {
			continue
		}
		fixture, err := s.LoadFixture(&s.Steps[i], states[i])
		require.NoError(t, err)
		objs, err := LoadObjects(variant)
		require.NoError(t, err)
		vst := states[i].Clone()
		require.NoError(t, vst.Apply(&Step{Name: "control", Objects: objs}))
		want, err := vst.Expected(s, s.External.IP)
		require.NoError(t, err)
		targets, err := vst.Targets(s)
		require.NoError(t, err)
		NamesNeedDNS(want, targets)
		mm, err := matrix.Compare(fixture, want)
		require.NoError(t, err)
		return mm
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
