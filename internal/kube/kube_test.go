package kube

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestDecodeAndConvert(t *testing.T) {
	objs, err := DecodeYAML("m.yaml", []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: a\n"))
	require.NoError(t, err)
	require.Len(t, objs, 2, "empty documents are skipped")
	require.Equal(t, "Namespace a", Ref(objs[0]))
	require.Equal(t, "NetworkPolicy a/p", Ref(objs[1]))
	_, err = DecodeYAML("m.yaml", []byte("kind: [\n"))
	require.ErrorContains(t, err, "m.yaml:")

	u, err := ToUnstructured(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "a"}})
	require.NoError(t, err)
	require.Equal(t, "NetworkPolicy", u.GetKind(), "the kind comes from the scheme when TypeMeta is empty")
	_, hasStatus := u.Object["status"]
	require.False(t, hasStatus, "server-side apply gets no status")
}

func TestWaitsAndPods(t *testing.T) {
	one := int32(1)
	cs := fake.NewClientset(
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "ready"}, Spec: appsv1.DeploymentSpec{Replicas: &one},
			Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1},
		},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "slow"}, Spec: appsv1.DeploymentSpec{Replicas: &one}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "p1", Labels: map[string]string{"app": "x"}}, Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "p2", Labels: map[string]string{"app": "x"}}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gone-soon"}},
	)
	c := &Client{Typed: cs}
	ctx := context.Background()
	require.NoError(t, c.WaitDeployments(ctx, time.Second, "a/ready"))
	err := c.WaitDeployments(ctx, 600*time.Millisecond, "a/ready", "a/slow")
	require.ErrorContains(t, err, "timed out after 600ms waiting for deployments a/ready, a/slow to be ready (last state: waiting for a/slow (0/1 ready))")
	p, err := c.RunningPod(ctx, "a", map[string]string{"app": "x"})
	require.NoError(t, err)
	require.Equal(t, "p1", p.Name, "a pending pod is not running")
	_, err = c.RunningPod(ctx, "a", map[string]string{"app": "y"})
	require.ErrorContains(t, err, "found 0 (of 0)")
	require.NoError(t, c.DeleteNamespaces(ctx, time.Second, "gone-soon", "never-was"))
	err = c.WaitNodesReady(ctx, 10*time.Millisecond)
	require.ErrorContains(t, err, "every node to be Ready")
}

// A DaemonSet whose new pod's init container keeps failing is reported at once, naming the
// container, its exit and its log, instead of after the whole timeout; fewer failures wait.
func TestWaitDaemonSetStopsOnACrashLoop(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "calico-node", Generation: 2},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "calico-node"}}},
		Status:     appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 1},
	}
	pod := func(restarts int32) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "calico-node-x", Labels: map[string]string{"k8s-app": "calico-node"}},
			Spec:       corev1.PodSpec{NodeName: "worker"},
			Status: corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{{
				Name: "install-cni", Image: "quay.io/calico/calico:release-v3.33", RestartCount: restarts,
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
			}}},
		}
	}
	c := &Client{Typed: fake.NewClientset(ds, pod(4))}
	t0 := time.Now()
	err := c.WaitDaemonSet(context.Background(), 5*time.Second, "kube-system", "calico-node")
	require.ErrorContains(t, err, "pod calico-node-x on worker: container install-cni (quay.io/calico/calico:release-v3.33) failed 4 times, last with exit 1 (Error)")
	require.Less(t, time.Since(t0), time.Second)
	c = &Client{Typed: fake.NewClientset(ds, pod(2))}
	err = c.WaitDaemonSet(context.Background(), 1500*time.Millisecond, "kube-system", "calico-node")
	require.ErrorContains(t, err, "timed out after 1.5s")
}
