package upgrade

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/harnesstest"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/rollout"
)

func simRollout(name string, inject []string, restartServer string) Spec {
	return Spec{
		Name: name, From: "v1", To: "v1", Interval: 50 * time.Millisecond, ProbeTimeout: time.Second,
		HoleBudget: time.Second, Tail: 300 * time.Millisecond, Timeout: time.Minute, Inject: inject,
		Hold:          HoldSpec{Interval: 50 * time.Millisecond, ReplyBudget: time.Second, RestartServer: restartServer},
		ControlsAfter: 300 * time.Millisecond,
	}
}

// A clean restart-in-place rollout: nothing leaks, nothing is down, every held connection
// exchanged messages, versions asked before and after, the report filled.
func TestSimRolloutClean(t *testing.T) {
	h, _ := harnesstest.EndState(t, "../../scenario.yaml")
	rs := Rollout(h, 8, simRollout("rollout", nil, "")).Run(context.Background())
	require.Empty(t, rs.Failure.String(), rs.Text())
	r := rs.Rollout
	require.NotNil(t, r)
	require.Zero(t, r.Leaks)
	require.Positive(t, r.Observations)
	require.Len(t, r.Conns, 14, "one held connection per allowed app cell of the end state")
	require.Contains(t, r.ConnSummary(), "14 connections held")
	require.Contains(t, strings.Join(r.Versions, " "), "calico-node -v = v1")
	require.Contains(t, strings.Join(r.Versions, " "), "kube-controllers -version = v1")
	require.Contains(t, rs.Text(), "restarted calico-node in place")
}

// A calico pod created during the rollout that restarts fails it (a pod the mark before the
// rollout never saw has no baseline to compare restarts with).
func TestSimRolloutNewPodThatRestartsFails(t *testing.T) {
	h, twin := harnesstest.EndState(t, "../../scenario.yaml")
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = twin.Clientset().CoreV1().Pods(calico.Namespace).Create(context.Background(), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: calico.Namespace, Name: "calico-node-b", Labels: map[string]string{"k8s-app": "calico-node"}},
			Spec:       corev1.PodSpec{NodeName: "sim-worker2"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "calico-node", Ready: true, RestartCount: 1,
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}},
			}}},
		}, metav1.CreateOptions{})
	}()
	rs := Rollout(h, 8, simRollout("rollout", nil, "")).Run(context.Background())
	require.Contains(t, rs.Failure.String(), "calico-node-b on sim-worker2 restarted 1 time(s) during the rollout", rs.Text())
}

// DNS cells are judged on the rollout's clock: a lookup gets the probe timeout, not the
// steps' longer DNS budget (under which a 4.5 s outage passed as allowed).
func TestSimRolloutJudgesDNSOnTheProbeClock(t *testing.T) {
	h, twin := harnesstest.EndState(t, "../../scenario.yaml")
	h.Cfg.DNSTimeout = 5 * time.Second
	spec := simRollout("rollout", nil, "")
	rs := Rollout(h, 8, spec).Run(context.Background())
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.NotEmpty(t, twin.Watches)
	for _, w := range twin.Watches {
		require.Equal(t, spec.ProbeTimeout, w.DNSTimeout)
		require.Equal(t, spec.ProbeTimeout, w.Timeout)
	}
}

// A leak that starts mid-rollout fails it, naming the cell.
func TestSimRolloutLeakFails(t *testing.T) {
	h, twin := harnesstest.EndState(t, "../../scenario.yaml")
	go func() {
		time.Sleep(700 * time.Millisecond)
		twin.Mu.Lock()
		twin.Leak[matrix.Cell{Row: "frontend/client", Col: "backend:6379"}] = true
		twin.Mu.Unlock()
	}()
	spec := simRollout("rollout", nil, "")
	spec.Tail = time.Second
	rs := Rollout(h, 8, spec).Run(context.Background())
	require.Contains(t, rs.Failure.String(), "LEAK: frontend/client -> backend:6379 denied but seen allowed")
}

// The controls: two policies deleted mid-rollout and one server restarted must be reported
// as exactly their leak and exactly that connection's disruption; then the rollout passes.
func TestSimRolloutControls(t *testing.T) {
	h, twin := harnesstest.EndState(t, "../../scenario.yaml")
	spec := simRollout("upgrade-control", []string{"pci/default-deny-pci", "pci/allow-management-ui"}, "client:9000")
	spec.Tail = time.Second
	rs := Rollout(h, 8, spec).Run(context.Background())
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.True(t, twin.Restarted["frontend/client-sim"])
	require.Equal(t, 4, countInjected(rs.Rollout.Deviations), rs.Text())
	disrupted := 0
	for _, c := range rs.Rollout.Conns {
		for _, d := range c.Disruptions {
			require.True(t, d.Injected, "%s -> %s", c.Cell.Row, c.Cell.Col)
			require.Equal(t, "management-ui/management-ui -> client:9000", c.Cell.Row+" -> "+c.Cell.Col)
			disrupted++
		}
	}
	require.Equal(t, 1, disrupted)
	require.Contains(t, rs.Text(), "control: the suite reported exactly the injected leak")
}

// A restore of the control that fails is a failure of the rollout, naming the policy.
func TestSimRolloutControlRestoreErrorFails(t *testing.T) {
	h, twin := harnesstest.EndState(t, "../../scenario.yaml")
	twin.Mu.Lock()
	twin.FailApply = map[string]error{"pci/default-deny-pci": errors.New("admission webhook denied the request")}
	twin.Mu.Unlock()
	spec := simRollout("upgrade-control", []string{"pci/default-deny-pci", "pci/allow-management-ui"}, "")
	spec.Tail = time.Second
	rs := Rollout(h, 8, spec).Run(context.Background())
	require.Contains(t, rs.Failure.String(), "restore pci/default-deny-pci: admission webhook denied the request", rs.Text())
}

func countInjected(ds []rollout.Deviation) int {
	cells := map[string]bool{}
	for _, d := range ds {
		if d.Injected {
			cells[d.Cell.Row+" -> "+d.Cell.Col] = true
		}
	}
	return len(cells)
}

// A rollout whose calico pods do not say the target version fails.
func TestSimRolloutWrongVersionFails(t *testing.T) {
	h, _ := harnesstest.EndState(t, "../../scenario.yaml")
	spec := simRollout("upgrade", nil, "")
	spec.To = "v2"
	rs := Rollout(h, 8, spec).Run(context.Background())
	require.Contains(t, rs.Failure.String(), `every calico pod should be v2: calico-kube-controllers-a says "v1", calico-node-a says "v1"`)
}

// The connection control needs a target some allowed app cell holds a connection to.
func TestCheckConnControl(t *testing.T) {
	h, _ := harnesstest.New(t, "../../scenario.yaml")
	end := 8
	want, err := h.Expected(&h.Scenario.Steps[end], h.States[end])
	require.NoError(t, err)
	require.NoError(t, CheckConnControl(h.States[end], h.Scenario, want, "client:9000"))
	require.ErrorContains(t, CheckConnControl(h.States[end], h.Scenario, want, "dns:53/udp"), `no held connection goes to "dns:53/udp"`)
}
