package harness

import (
	"context"
	"fmt"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/report"
)

// Dataplane proves the dataplane is the one asked for, not just that a setting was
// passed: on every node (through its calico-node pod, which shares the node's network
// namespace) what calico.Dataplane.Evidence says. Run it with pods deployed: workload
// interfaces are where policy is judged. On eBPF, the programs must be attached as
// Cfg.BPFAttach says.
func (h *Harness) Dataplane(name string, want calico.Dataplane) *check.Check {
	return check.New(name, func(ctx context.Context, rs *report.Step) error {
		pods, err := calico.NodePods(ctx, h.Kube.Clientset(), "")
		if err != nil {
			return err
		}
		var problems []string
		dp := &report.Dataplane{Want: string(want)}
		rs.Dataplane = dp
		for _, p := range pods {
			d, err := calico.NodeDataplaneOf(ctx, h.Kube, &p)
			if err != nil {
				return err
			}
			dp.Nodes = append(dp.Nodes, d)
			problems = append(problems, d.Problems(want, h.Cfg.BPFAttach)...)
			dp.Workloads += len(d.Workloads)
		}
		if dp.Workloads == 0 {
			problems = append(problems, "no node has a workload interface: nothing shows where pods' traffic is judged (run the check with pods deployed)")
		}
		if len(problems) > 0 {
			for i, p := range problems {
				problems[i] = fmt.Sprintf("the dataplane is not %s: %s", want, p)
			}
			return report.Problems(problems)
		}
		dp.Evidence = want.Evidence(h.Cfg.BPFAttach)
		return nil
	})
}
