package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// conntrackEvidence is, for each UDP cell wrong at the end of a step, what its source pod's
// node tracks of that pod's flows to port 53: an entry of a flow opened before a policy
// closed it lets that flow's packets through until it expires (the open failure of the
// enforcement replays, where a closed DNS cell was seen answered). Evidence for the report;
// it decides nothing.
func (h *Harness) conntrackEvidence(ctx context.Context, st *scenario.State, wrong []matrix.Mismatch) []string {
	var out []string
	var seen []string
	for _, m := range wrong {
		if !strings.Contains(m.Col, "/udp") || slices.Contains(seen, m.Row) {
			continue
		}
		seen = append(seen, m.Row)
		i := slices.IndexFunc(st.Deployments, func(d *appsv1.Deployment) bool { return d.Namespace+"/"+d.Name == m.Row })
		if i < 0 {
			continue
		}
		d := st.Deployments[i]
		pod, err := h.Kube.RunningPod(ctx, d.Namespace, d.Spec.Template.Labels)
		if err != nil {
			out = append(out, fmt.Sprintf("conntrack of %s: %v", m.Row, err))
			continue
		}
		var ips []string
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		lines, err := calico.DNSFlows(ctx, h.Kube, pod.Spec.NodeName, ips)
		if err != nil {
			out = append(out, fmt.Sprintf("conntrack of %s: %v", m.Row, err))
			continue
		}
		out = append(out, fmt.Sprintf("conntrack on %s, UDP flows of %s (%s) to port 53: %d", pod.Spec.NodeName, m.Row, pod.Name, len(lines)))
		for _, l := range lines[:min(len(lines), 20)] {
			out = append(out, "  "+l)
		}
	}
	return out
}
