package harness

import (
	"context"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
)

// KubeAPI is everything the harness asks of a cluster: *kube.Client on a live one, a
// simulated twin in the unit tests (internal/sim), so the orchestration is tested without
// a cluster.
type KubeAPI interface {
	// Apply applies objects server-side; Delete deletes them (gone ones are fine).
	Apply(ctx context.Context, objs ...*unstructured.Unstructured) error
	Delete(ctx context.Context, objs ...*unstructured.Unstructured) error
	// DeleteNamespaces deletes namespaces and waits until they are gone.
	DeleteNamespaces(ctx context.Context, timeout time.Duration, names ...string) error
	// WaitDeployments ("namespace/name") and WaitDaemonSet wait until rolled out and ready.
	WaitDeployments(ctx context.Context, timeout time.Duration, names ...string) error
	WaitDaemonSet(ctx context.Context, timeout time.Duration, ns, name string) error
	// RunningPod is the one running, ready pod matching the labels.
	RunningPod(ctx context.Context, ns string, selector map[string]string) (*corev1.Pod, error)
	// Exec runs a command in a pod; Stream does too, feeding stdin and streaming output.
	Exec(ctx context.Context, ns, pod, container string, cmd []string) (string, string, error)
	Stream(ctx context.Context, ns, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error
	// Clientset is the typed API (pods, logs, daemonsets, services).
	Clientset() kubernetes.Interface
}
