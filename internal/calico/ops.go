package calico

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/netpol-e2e/harness/internal/versions"
)

// API is what Calico's operations on a running cluster ask of it: *kube.Client on a live
// cluster, the harness's simulated twin in its unit tests.
type API interface {
	Exec(ctx context.Context, ns, pod, container string, cmd []string) (string, string, error)
	WaitDeployments(ctx context.Context, timeout time.Duration, names ...string) error
	WaitDaemonSet(ctx context.Context, timeout time.Duration, ns, name string) error
	Clientset() kubernetes.Interface
}

// Pods lists the calico pods (calico-node and calico-kube-controllers), terminating ones
// included.
func Pods(ctx context.Context, c kubernetes.Interface) ([]corev1.Pod, error) {
	list, err := c.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: PodSelector})
	if err != nil {
		return nil, fmt.Errorf("list calico pods: %w", err)
	}
	return list.Items, nil
}

// NodePods lists the calico-node pods; with node set, only that node's.
func NodePods(ctx context.Context, c kubernetes.Interface, node string) ([]corev1.Pod, error) {
	opts := metav1.ListOptions{LabelSelector: "k8s-app=calico-node"}
	if node != "" {
		opts.FieldSelector = "spec.nodeName=" + node
	}
	list, err := c.CoreV1().Pods(Namespace).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list calico-node pods: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no calico-node pod (node %q)", node)
	}
	return list.Items, nil
}

// RestartNode rolls calico-node without changing its version (kubectl rollout restart).
func RestartNode(ctx context.Context, c kubernetes.Interface) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"netpol-e2e/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	_, err := c.AppsV1().DaemonSets(Namespace).Patch(ctx, "calico-node", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// WaitRolledOut waits until calico-node and calico-kube-controllers are rolled out and ready.
func WaitRolledOut(ctx context.Context, c API, timeout time.Duration) error {
	if err := c.WaitDaemonSet(ctx, timeout, Namespace, "calico-node"); err != nil {
		return fmt.Errorf("calico: %w", err)
	}
	if err := c.WaitDeployments(ctx, timeout, Namespace+"/calico-kube-controllers"); err != nil {
		return fmt.Errorf("calico: %w", err)
	}
	return nil
}

// versionCommands are how each calico pod says what it runs, by its k8s-app label:
// calico-node -v and kube-controllers -version up to v3.32; the combined binary's
// `calico version` in both on the v3.33 line.
func versionCommands(version string) map[string][]string {
	if comps, _ := versions.CalicoComponents(version); slices.Contains(comps, "calico") {
		return map[string][]string{"calico-node": {"calico", "version"}, "calico-kube-controllers": {"/usr/bin/calico", "version"}}
	}
	return map[string][]string{"calico-node": {"calico-node", "-v"}, "calico-kube-controllers": {"/usr/bin/kube-controllers", "-version"}}
}

// Versions asks every running calico pod what it runs (versionCommands); each must say
// want. It returns one line per pod.
func Versions(ctx context.Context, c API, want string) ([]string, error) {
	pods, err := Pods(ctx, c.Clientset())
	if err != nil {
		return nil, err
	}
	asked := map[string]bool{}
	var out, wrong []string
	cmds := versionCommands(want)
	for _, p := range pods {
		app := p.Labels["k8s-app"]
		cmd := cmds[app]
		if cmd == nil || p.DeletionTimestamp != nil {
			continue
		}
		stdout, stderr, err := c.Exec(ctx, Namespace, p.Name, app, cmd)
		if err != nil {
			return out, fmt.Errorf("%s in %s: %w %s", strings.Join(cmd, " "), p.Name, err, strings.TrimSpace(stderr))
		}
		got := reportedVersion(stdout)
		asked[app] = true
		out = append(out, fmt.Sprintf("%s on %s: %s = %s", p.Name, p.Spec.NodeName, strings.Join(cmd, " "), got))
		if got != want {
			wrong = append(wrong, fmt.Sprintf("%s says %q", p.Name, got))
		}
	}
	slices.Sort(out)
	if !asked["calico-node"] || !asked["calico-kube-controllers"] {
		return out, fmt.Errorf("no running calico-node and calico-kube-controllers pods to ask their version (asked: %v)", out)
	}
	if len(wrong) > 0 {
		return out, fmt.Errorf("every calico pod should be %s: %s", want, strings.Join(wrong, ", "))
	}
	return out, nil
}

// reportedVersion reads a calico binary's version output: one line up to v3.30, from v3.31
// pkg/buildinfo's "Version:" line (then "Build date:", "Git commit:").
func reportedVersion(stdout string) string {
	for _, line := range strings.Split(stdout, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Version:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return strings.TrimSpace(stdout)
}

// NodeDataplaneOf reads what the calico-node pod p shows of its node's dataplane
// (DataplaneCommand; the pod shares the node's network namespace).
func NodeDataplaneOf(ctx context.Context, c API, p *corev1.Pod) (NodeDataplane, error) {
	out, stderr, err := c.Exec(ctx, p.Namespace, p.Name, "calico-node", DataplaneCommand)
	if err != nil {
		return NodeDataplane{}, fmt.Errorf("dataplane of node %s (pod %s): %w: %s", p.Spec.NodeName, p.Name, err, strings.TrimSpace(stderr))
	}
	return ParseDataplane(p.Spec.NodeName, out)
}

// ConntrackDNSCommand lists a node's UDP flows to port 53, both families (run in its
// calico-node pod: host network, privileged, conntrack in the image). Without conntrack it
// fails (exit 127): an empty list must mean nothing is tracked, not a missing tool.
var ConntrackDNSCommand = []string{"sh", "-c", "command -v conntrack >/dev/null || { echo 'conntrack: not found' >&2; exit 127; }; conntrack -L -f ipv4 -p udp --dport 53 2>/dev/null; conntrack -L -f ipv6 -p udp --dport 53 2>/dev/null; true"}

// DNSFlows is what node tracks of the UDP flows to port 53 from any of ips: one line per
// conntrack entry, spaces folded.
func DNSFlows(ctx context.Context, c API, node string, ips []string) ([]string, error) {
	pods, err := NodePods(ctx, c.Clientset(), node)
	if err != nil {
		return nil, err
	}
	stdout, _, err := c.Exec(ctx, Namespace, pods[0].Name, "calico-node", ConntrackDNSCommand)
	if err != nil {
		return nil, fmt.Errorf("conntrack on %s: %w", node, err)
	}
	var lines []string
	for _, l := range strings.Split(stdout, "\n") {
		for _, ip := range ips {
			if strings.Contains(l, "src="+ip+" ") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
				break
			}
		}
	}
	return lines, nil
}

// FlushDNSFlows deletes what node tracks of the UDP flows to port 53 from ips
// (conntrack -D in its calico-node pod; nothing tracked is fine).
func FlushDNSFlows(ctx context.Context, c API, node string, ips []string) error {
	pods, err := NodePods(ctx, c.Clientset(), node)
	if err != nil {
		return err
	}
	var script []string
	for _, ip := range ips {
		a := net.ParseIP(ip)
		if a == nil {
			return fmt.Errorf("flush DNS flows on %s: %q is not an IP address", node, ip)
		}
		family := "ipv4"
		if a.To4() == nil {
			family = "ipv6"
		}
		script = append(script, fmt.Sprintf("conntrack -D -f %s -s %s -p udp --dport 53 >/dev/null 2>&1", family, a))
	}
	cmd := []string{"sh", "-c", strings.Join(append(script, "true"), "; ")}
	if _, stderr, err := c.Exec(ctx, Namespace, pods[0].Name, "calico-node", cmd); err != nil {
		return fmt.Errorf("flush DNS flows on %s: %w %s", node, err, strings.TrimSpace(stderr))
	}
	return nil
}
