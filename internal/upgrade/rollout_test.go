package upgrade

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/scenario"
)

func endState(t *testing.T) (*harness.Harness, int, *matrix.Matrix) {
	t.Helper()
	s, err := scenario.Load("../../scenario.yaml")
	require.NoError(t, err)
	states, err := s.States()
	require.NoError(t, err)
	h := &harness.Harness{Scenario: s, States: states, Cfg: harness.Config{ExternalIP: "172.18.255.200", ConvergeDeadline: time.Minute, ConntrackUDPTimeout: 30 * time.Second}}
	end := 8
	want, err := h.Expected(&s.Steps[end], states[end])
	require.NoError(t, err)
	return h, end, want
}

// The default control policies open exactly the four cells into payments.
func TestInjectionPredictsItsLeak(t *testing.T) {
	h, end, _ := endState(t)
	inj, err := newInjection(h, h.States[end], []string{"pci/default-deny-pci", "pci/allow-management-ui"})
	require.NoError(t, err)
	var cells []string
	for _, c := range inj.predicted {
		cells = append(cells, cellName(c))
	}
	require.ElementsMatch(t, []string{
		"frontend/client -> payments:6380", "backend/facade -> payments:6380",
		"backend/backend -> payments:6380", "infrastructure/queue -> payments:6380",
	}, cells)
	require.False(t, inj.udp)

	// One deny policy alone opens nothing (an allow policy still isolates the pods): refused.
	_, err = newInjection(h, h.States[end], []string{"pci/default-deny-pci"})
	require.ErrorContains(t, err, "opens no denied cell")
	_, err = newInjection(h, h.States[end], []string{"pci/nope"})
	require.ErrorContains(t, err, `policy "pci/nope" is not in force at that step`)
}

// The control is judged on the deletion window plus the stated allowance: a leak on a
// predicted cell inside it, over within the allowance after the restore, is the control's;
// the same leak before the delete, one that never ends or ends too late, or a leak on
// another cell is a real one.
func TestInjectionJudgesOnlyItsWindow(t *testing.T) {
	h, end, _ := endState(t)
	inj, err := newInjection(h, h.States[end], []string{"pci/default-deny-pci", "pci/allow-management-ui"})
	require.NoError(t, err)
	t0 := time.Now()
	inj.deleted, inj.restored = t0.Add(5*time.Second), t0.Add(8*time.Second)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// leak: one wrong probe started at atMs, taking ms; right again at untilMs (-1: never).
	leak := func(c matrix.Cell, atMs, ms, untilMs int) rollout.Deviation {
		d := rollout.Deviation{Kind: rollout.Leak, Cell: c, First: at(atMs), Last: at(atMs), FirstEnd: at(atMs + ms), Count: 1}
		if untilMs >= 0 {
			d.Until = at(untilMs)
		}
		return d
	}
	client := matrix.Cell{Row: "frontend/client", Col: "payments:6380"}
	require.True(t, inj.explains(leak(client, 5500, 10, 9000), h.Cfg))
	require.True(t, inj.explains(leak(client, 4600, 900, 9000), h.Cfg), "a probe started before the delete and ended after it")
	require.True(t, inj.explains(leak(client, 5500, 10, 8000+44000), h.Cfg), "over within the allowance")
	require.False(t, inj.explains(leak(client, 4000, 10, 9000), h.Cfg), "before the delete")
	require.False(t, inj.explains(leak(client, 5500, 10, 8000+46000), h.Cfg), "over only after the allowance")
	require.False(t, inj.explains(leak(client, 5500, 10, -1), h.Cfg), "never over")
	require.False(t, inj.explains(leak(matrix.Cell{Row: "frontend/client", Col: "backend:6379"}, 5500, 10, 9000), h.Cfg), "not a predicted cell")

	// Every predicted cell must have leaked.
	a := &rollout.Analysis{Deviations: []rollout.Deviation{leak(client, 5500, 10, 9000)}}
	problems := inj.judge(a, h.Cfg)
	require.Len(t, problems, 1)
	require.Contains(t, problems[0], "backend/facade -> payments:6380")

	// A leak of the control that does not end is reported as such.
	a = &rollout.Analysis{Deviations: []rollout.Deviation{leak(client, 5500, 10, -1)}}
	problems = inj.judge(a, h.Cfg)
	require.Len(t, problems, 2)
	require.Contains(t, problems[0], "the injected leak on frontend/client -> payments:6380 did not end within 45s of the restore")
}

func TestJudgeRollout(t *testing.T) {
	t0 := time.Now()
	c := matrix.Cell{Row: "a", Col: "b"}
	a := &rollout.Analysis{To: t0.Add(time.Minute), LongestHole: 2 * time.Second, LongestHoleCell: c}
	down := rollout.Deviation{Kind: rollout.Down, Cell: c, Got: matrix.Blocked, First: t0, Until: t0.Add(400 * time.Millisecond), Count: 1}
	spec := Spec{GapBudget: 0, HoleBudget: 5 * time.Second}
	require.Len(t, judge(a, []rollout.Deviation{down}, spec), 1, "budget 0: any down fails")
	spec.GapBudget = 500 * time.Millisecond
	require.Empty(t, judge(a, []rollout.Deviation{down}, spec), "within the budget")
	a.LongestHole = 6 * time.Second
	require.Len(t, judge(a, nil, spec), 1, "a coverage hole over its budget fails")
	spec.HoleBudget = time.Second
	a.LongestHole = 1001 * time.Millisecond
	require.Contains(t, judge(a, nil, spec)[0], "went 1.001s without a probe starting (budget 1s)")
	a.LongestHole, a.Unobserved = 0, []matrix.Cell{c}
	require.Contains(t, judge(a, nil, spec)[0], "never probed")
}
