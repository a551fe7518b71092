package harness

import (
	"context"
	"fmt"
	"strings"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/report"
)

// CheckDataplane proves the dataplane is the one asked for, not just that a setting was
// passed: on every node (through its calico-node pod, which shares the node's network
// namespace) what calico.Dataplane.Evidence says. Run it with pods deployed: workload
// interfaces are where policy is judged. On eBPF, the programs must be attached as
// Cfg.BPFAttach says.
func (h *Harness) CheckDataplane(ctx context.Context, name string, want calico.Dataplane) *report.Step {
	return h.Check(name, func(rs *report.Step) error {
		pods, err := calico.NodePods(ctx, h.Kube.Clientset(), "")
		if err != nil {
			return err
		}
		var problems []string
		workloads := 0
		for _, p := range pods {
			d, err := calico.NodeDataplaneOf(ctx, h.Kube, &p)
			if err != nil {
				return err
			}
			rs.Notes = append(rs.Notes, d.String())
			problems = append(problems, d.Problems(want, h.Cfg.BPFAttach)...)
			workloads += len(d.Workloads)
		}
		if workloads == 0 {
			problems = append(problems, "no node has a workload interface: nothing shows where pods' traffic is judged (run the check with pods deployed)")
		}
		if len(problems) > 0 {
			return fmt.Errorf("the dataplane is not %s:\n%s", want, strings.Join(problems, "\n"))
		}
		rs.Notes = append(rs.Notes, fmt.Sprintf("every node (%d, %d workload interfaces): %s", len(pods), workloads, want.Evidence(h.Cfg.BPFAttach)))
		return nil
	})
}
