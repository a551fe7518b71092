package upgrade

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// The admin loss check passes only when every predicted cell changes as predicted and stays
// so; a Calico that kept enforcing (nothing seen), a change that ended, or a change of the
// wrong kind each fail it, and a deviation it does not predict stays a real one.
func TestAdminLossJudge(t *testing.T) {
	t0 := time.Now()
	leak := matrix.Mismatch{Row: "frontend/client", Col: "facade:80", Want: matrix.Blocked, Got: matrix.Allowed}
	down := matrix.Mismatch{Row: "pci/payments", Col: "external:8080", Want: matrix.Allowed, Got: matrix.Blocked}
	l := &adminLoss{predicted: []matrix.Mismatch{leak, down}, applied: t0}
	dev := func(m matrix.Mismatch, k rollout.Kind, until time.Time) rollout.Deviation {
		return rollout.Deviation{Kind: k, Cell: matrix.Cell{Row: m.Row, Col: m.Col}, Want: m.Want, Got: m.Got, First: t0.Add(time.Second), FirstEnd: t0.Add(2 * time.Second), Until: until}
	}
	both := &rollout.Analysis{Deviations: []rollout.Deviation{dev(leak, rollout.Leak, time.Time{}), dev(down, rollout.Down, time.Time{})}}
	require.Empty(t, l.judge(both))
	require.True(t, l.explains(both.Deviations[0]))

	nothing := &rollout.Analysis{}
	require.Equal(t, []string{"admin loss: the predicted change was not seen on 2 of 2 cells: frontend/client -> facade:80 (leak, want seen allowed), pci/payments -> external:8080 (down, want seen blocked) (is the new Calico still enforcing the admin policies?)"}, l.judge(nothing))

	ended := &rollout.Analysis{Deviations: []rollout.Deviation{dev(leak, rollout.Leak, t0.Add(5*time.Second)), dev(down, rollout.Down, time.Time{})}}
	require.Len(t, l.judge(ended), 1)
	require.Contains(t, l.judge(ended)[0], "did not last to the end on frontend/client -> facade:80")

	// A flap that ends, then a change that lasts: the last one counts.
	flap := &rollout.Analysis{Deviations: []rollout.Deviation{dev(leak, rollout.Leak, t0.Add(3*time.Second)), dev(leak, rollout.Leak, time.Time{}), dev(down, rollout.Down, time.Time{})}}
	require.Empty(t, l.judge(flap))

	// Before the apply, or on another cell, or of another kind: not the loss.
	early := dev(leak, rollout.Leak, time.Time{})
	early.FirstEnd = t0.Add(-time.Second)
	require.False(t, l.explains(early))
	other := dev(matrix.Mismatch{Row: "backend/facade", Col: "facade:80", Want: matrix.Blocked, Got: matrix.Allowed}, rollout.Leak, time.Time{})
	require.False(t, l.explains(other))
	require.False(t, l.explains(dev(leak, rollout.Down, time.Time{})))
	var none *adminLoss
	require.False(t, none.explains(other))
}

// What losing the admin layer does at the end state, listed by hand from the admin steps'
// comments: the baseline's tools cells and the guardrail's facade cell open, pci's IPv4
// admin Allow of the external host is gone, sandbox's IPv6 Deny of it too.
func TestAdminLossPrediction(t *testing.T) {
	s, err := scenario.Load("../../scenario.yaml")
	require.NoError(t, err)
	h, err := harness.New(harness.Config{ExternalIP: "172.18.0.5", ExternalIPv6: "fc00:f853:ccd:e793::c8", Dual: true}, nil, s, io.Discard)
	require.NoError(t, err)
	end := len(s.Steps) - 2
	l, err := newAdminLoss(h, h.States[end])
	require.NoError(t, err)
	var got []string
	for _, m := range l.predicted {
		got = append(got, m.Row+" -> "+m.Col+": "+m.Got.String())
	}
	var want []string
	for _, fam := range []string{"", "@ipv6"} {
		for _, row := range []string{"frontend/client", "backend/facade", "backend/backend", "infrastructure/queue"} {
			want = append(want, row+" -> tools:8000"+fam+": allowed")
		}
		want = append(want, "frontend/client -> facade:80"+fam+": allowed")
	}
	want = append(want, "pci/payments -> external:8080: blocked", "sandbox/tools -> external:8080@ipv6: allowed")
	require.ElementsMatch(t, want, got)
	_, err = newAdminLoss(h, h.States[8])
	require.ErrorContains(t, err, "no admin policy is in force")
}
