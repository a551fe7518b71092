package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// conntrackCommand lists a node's UDP flows to port 53, both families (run in its
// calico-node pod: host network, privileged, conntrack in the image).
var conntrackCommand = []string{"sh", "-c", "conntrack -L -f ipv4 -p udp --dport 53 2>/dev/null; conntrack -L -f ipv6 -p udp --dport 53 2>/dev/null; true"}

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
		nodes, err := h.Kube.Clientset().CoreV1().Pods(calico.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=calico-node", FieldSelector: "spec.nodeName=" + pod.Spec.NodeName})
		if err != nil || len(nodes.Items) == 0 {
			out = append(out, fmt.Sprintf("conntrack of %s: no calico-node pod on %s (%v)", m.Row, pod.Spec.NodeName, err))
			continue
		}
		stdout, _, err := h.Kube.Exec(ctx, calico.Namespace, nodes.Items[0].Name, "calico-node", conntrackCommand)
		if err != nil {
			out = append(out, fmt.Sprintf("conntrack of %s on %s: %v", m.Row, pod.Spec.NodeName, err))
			continue
		}
		var lines []string
		for _, l := range strings.Split(stdout, "\n") {
			for _, ip := range pod.Status.PodIPs {
				if strings.Contains(l, "src="+ip.IP+" ") {
					lines = append(lines, strings.Join(strings.Fields(l), " "))
					break
				}
			}
		}
		out = append(out, fmt.Sprintf("conntrack on %s, UDP flows of %s (%s) to port 53: %d", pod.Spec.NodeName, m.Row, pod.Name, len(lines)))
		for _, l := range lines[:min(len(lines), 20)] {
			out = append(out, "  "+l)
		}
	}
	return out
}
