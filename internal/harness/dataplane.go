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
// namespace) what calico.Dataplane.Evidence says. Run it with pods deployed: workload
// interfaces are where policy is judged.
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
		workloads := 0
		for _, p := range list.Items {
			d, err := h.nodeDataplane(ctx, &p)
			if err != nil {
				return err
			}
			rs.Notes = append(rs.Notes, d.String())
			problems = append(problems, d.Problems(want)...)
			workloads += len(d.Workloads)
		}
		if workloads == 0 {
			problems = append(problems, "no node has a workload interface: nothing shows where pods' traffic is judged (run the check with pods deployed)")
		}
		if len(problems) > 0 {
			return fmt.Errorf("the dataplane is not %s:\n%s", want, strings.Join(problems, "\n"))
		}
		rs.Notes = append(rs.Notes, fmt.Sprintf("every node (%d, %d workload interfaces): %s", len(list.Items), workloads, want.Evidence()))
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
