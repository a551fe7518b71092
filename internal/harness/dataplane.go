package harness

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/report"
)

// CheckDataplane proves the dataplane is the one asked for, not just that a setting was
// passed: on every node (through its calico-node pod, which shares the node's network
// namespace) Calico's and kube-proxy's rules must be in that dataplane and absent from
// the other.
func (h *Harness) CheckDataplane(ctx context.Context, name string, want calico.Dataplane) *report.Step {
	return h.check(name, func(rs *report.Step) error {
		list, err := h.Kube.Clientset().CoreV1().Pods(calico.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=calico-node"})
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return fmt.Errorf("no calico-node pod")
		}
		var problems []string
		for _, p := range list.Items {
			d, err := h.nodeDataplane(ctx, &p)
			if err != nil {
				return err
			}
			rs.Notes = append(rs.Notes, d.String())
			problems = append(problems, d.Problems(want)...)
		}
		if len(problems) > 0 {
			return fmt.Errorf("the dataplane is not %s:\n%s", want, strings.Join(problems, "\n"))
		}
		rs.Notes = append(rs.Notes, fmt.Sprintf("every node (%d) runs Calico and kube-proxy on %s, and neither has rules in the other dataplane", len(list.Items), want))
		return nil
	})
}

func (h *Harness) nodeDataplane(ctx context.Context, p *corev1.Pod) (calico.NodeDataplane, error) {
	out, stderr, err := h.Kube.Exec(ctx, p.Namespace, p.Name, "calico-node", calico.DataplaneCommand)
	if err != nil {
		return calico.NodeDataplane{}, fmt.Errorf("dataplane of node %s (pod %s): %w: %s", p.Spec.NodeName, p.Name, err, strings.TrimSpace(stderr))
	}
	return calico.ParseDataplane(p.Spec.NodeName, out)
}
