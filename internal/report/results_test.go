package report

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// Results travel typed: results.json holds their values, and the text is rendered from
// them (a soak's wrong round with its diff and repro command, a control's prediction and
// timings).
func TestResultsAreTypedAndRendered(t *testing.T) {
	want := matrix.New([]string{"x/y"}, []string{"a:1"}, matrix.Blocked)
	leak := matrix.Mismatch{Row: "x/y", Col: "a:1", Want: matrix.Blocked, Got: matrix.Allowed}
	s := &Step{
		Name: "soak-2-03", Kind: "check", Expected: want,
		Soak: &Soak{Rounds: 2, Cells: 1, Median: 80 * time.Millisecond, Worst: 90 * time.Millisecond, Bad: []SoakRound{{
			Round: 2, Mismatches: []matrix.Mismatch{leak},
			Results: []matrix.Result{{Cell: matrix.Cell{Row: "x/y", Col: "a:1"}, Verdict: matrix.Allowed, Millis: 3, Detail: "200", Repro: "kubectl exec -n x deploy/y -- star probe a:1"}},
		}}},
		Control: &Control{Fixture: "03.yaml", Predicted: []matrix.Mismatch{leak}, Enforced: 1200 * time.Millisecond},
	}
	txt := s.Text()
	require.Contains(t, txt, "round 2: 1 cells differ:\n")
	require.Contains(t, txt, "x/y -> a:1: allowed after 3ms (200); repro: kubectl exec -n x deploy/y -- star probe a:1")
	require.Contains(t, txt, "2 rounds of 1 cells: 1 rounds with mismatches, 0 probe errors; round time median 80ms, worst 90ms")
	require.Contains(t, txt, "predicted change: "+leak.String())
	require.Contains(t, txt, "variant enforced after 1.2s")
	require.NotContains(t, txt, "originals restored", "not restored: no line")

	js, err := json.Marshal(s)
	require.NoError(t, err)
	var got struct {
		Soak struct {
			Rounds int
			Bad    []struct{ Round int }
		}
		Control struct {
			Enforced int64 `json:"enforcedNs"`
		}
	}
	require.NoError(t, json.Unmarshal(js, &got))
	require.Equal(t, 2, got.Soak.Rounds)
	require.Equal(t, 2, got.Soak.Bad[0].Round)
	require.Equal(t, int64(1200*time.Millisecond), got.Control.Enforced)
	require.NotContains(t, string(js), `"notes"`)
}
