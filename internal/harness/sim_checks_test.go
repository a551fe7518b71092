package harness

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netpol-e2e/harness/internal/calico"
)

// Calico's health between rollouts: clean passes; a calico-node container restart fails,
// naming the pod.
func TestSimCalicoHealth(t *testing.T) {
	h, twin := simHarness(t)
	twin.WithCalico(t, "v1")
	ctx := context.Background()
	require.NoError(t, h.MarkCalicoHealthy(ctx))
	rs := h.CalicoHealth("calico-health").Run(ctx)
	require.Empty(t, rs.Failure.String(), rs.Text())
	require.Contains(t, rs.Text(), "calico-node-a on sim-worker (restarts 0)")

	pod, err := twin.Clientset().CoreV1().Pods(calico.Namespace).Get(ctx, "calico-node-a", metav1.GetOptions{})
	require.NoError(t, err)
	pod.Status.ContainerStatuses[0].RestartCount = 1
	_, err = twin.Clientset().CoreV1().Pods(calico.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	require.NoError(t, err)
	rs = h.CalicoHealth("calico-health").Run(ctx)
	require.Contains(t, rs.Failure.String(), "calico-node-a on sim-worker restarted 1 time(s)")
}

// Probing by pod IP: the same workshop, no DNS involved for services.
func TestSimWorkshopByPodIP(t *testing.T) {
	h, _ := simHarness(t)
	h.Cfg.ByPodIP = true
	ctx := context.Background()
	for i := range h.Scenario.Steps {
		rs := h.RunStep(ctx, i)
		require.Empty(t, rs.Failure.String(), rs.Text())
	}
}

// The dataplane check passes on the dataplane the nodes really run, and fails, naming the
// node and both counts, on the other (its control); on eBPF, also when the programs are
// attached otherwise than asked (TCX asked, tc found, and the reverse).
func TestSimDataplaneCheck(t *testing.T) {
	h, twin := simHarness(t)
	twin.WithCalico(t, "v3.29.7")
	ctx := context.Background()
	for _, dp := range calico.Dataplanes {
		twin.Dataplane = dp
		ok := h.Dataplane("dataplane-"+string(dp), dp).Run(ctx)
		require.Empty(t, ok.Failure.String())
		require.Contains(t, ok.Text(), "every node (1, 1 workload interfaces): "+dp.Evidence(calico.AttachTCX))
		for _, other := range calico.Dataplanes {
			if other == dp {
				continue
			}
			bad := h.Dataplane("dataplane-"+string(other), other).Run(ctx)
			switch {
			case other == calico.BPF:
				require.Contains(t, bad.Failure.String(), "node sim-worker: workload interface cali1 has no Calico BPF program on ingress")
				require.Contains(t, bad.Failure.String(), "node sim-worker: Calico policy in iptables or nftables on eBPF")
				require.Contains(t, bad.Failure.String(), "node sim-worker: kube-proxy rules on eBPF")
			case dp == calico.BPF:
				require.Contains(t, bad.Failure.String(), "node sim-worker: Calico BPF programs attached on "+string(other)+": cali1 tcx/ingress,tcx/egress; eth0 tcx/ingress,tcx/egress (want none)")
				require.Contains(t, bad.Failure.String(), "node sim-worker: kube-proxy is not on "+string(other))
			default:
				require.Contains(t, bad.Failure.String(), "node sim-worker: Calico (Felix) is not on "+string(other))
				require.Contains(t, bad.Failure.String(), "node sim-worker: kube-proxy is not on "+string(other))
			}
		}
	}
	twin.Dataplane = calico.BPF
	for _, c := range []struct{ want, have calico.BPFAttach }{{calico.AttachTCX, calico.AttachTC}, {calico.AttachTC, calico.AttachTCX}} {
		twin.BPFAttach, h.Cfg.BPFAttach = c.want, c.want
		ok := h.Dataplane("dataplane-bpf", calico.BPF).Run(ctx)
		require.Empty(t, ok.Failure.String())
		require.Contains(t, ok.Text(), "attached by "+c.want.Kind()+",")
		twin.BPFAttach = c.have
		bad := h.Dataplane("dataplane-bpf", calico.BPF).Run(ctx)
		require.Contains(t, bad.Failure.String(), fmt.Sprintf("node sim-worker: workload interface cali1 has no Calico BPF program on ingress attached by %s (attached: [%s/ingress %s/egress])", c.want.Kind(), c.have.Kind(), c.have.Kind()))
		require.Contains(t, bad.Failure.String(), fmt.Sprintf("node sim-worker: workload interface cali1 has Calico BPF programs attached otherwise than by %s: [%s/ingress %s/egress]", c.want.Kind(), c.have.Kind(), c.have.Kind()))
	}
	twin.BPFAttach, h.Cfg.BPFAttach = "", ""
}
