package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
)

// FieldManager names us in managedFields.
const FieldManager = "netpol-e2e"

// Client bundles the clients the harness needs.
type Client struct {
	Config  *rest.Config
	Typed   kubernetes.Interface
	Dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
}

// NewFromKubeconfig builds a client from a kubeconfig file.
func NewFromKubeconfig(path string) (*Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	return New(cfg)
}

// New builds a client from a REST config.
func New(cfg *rest.Config) (*Client, error) {
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{Config: cfg, Typed: typed, Dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// DecodeYAML splits a multi-document YAML stream into unstructured objects.
func DecodeYAML(name string, data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}

// ToUnstructured converts a typed object (with its TypeMeta set).
func ToUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetKind() == "" {
		gvks, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil || len(gvks) == 0 {
			return nil, fmt.Errorf("no kind for %T", obj)
		}
		u.SetGroupVersionKind(gvks[0])
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

// Ref is "Kind ns/name".
func Ref(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

// Apply server-side-applies objects in order.
func (c *Client) Apply(ctx context.Context, objs ...*unstructured.Unstructured) error {
	for _, u := range objs {
		if err := c.applyOne(ctx, u); err != nil {
			return fmt.Errorf("apply %s: %w", Ref(u), err)
		}
	}
	return nil
}

func (c *Client) resource(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		c.mapper.Reset()
		if m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return nil, err
		}
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := u.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		return c.Dynamic.Resource(m.Resource).Namespace(ns), nil
	}
	return c.Dynamic.Resource(m.Resource), nil
}

func (c *Client) applyOne(ctx context.Context, u *unstructured.Unstructured) error {
	ri, err := c.resource(u)
	if err != nil {
		return err
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	_, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
	return err
}

// Delete deletes objects (missing ones are fine).
func (c *Client) Delete(ctx context.Context, objs ...*unstructured.Unstructured) error {
	for _, u := range objs {
		ri, err := c.resource(u)
		if err != nil {
			return fmt.Errorf("delete %s: %w", Ref(u), err)
		}
		if err := ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", Ref(u), err)
		}
	}
	return nil
}

// Poll calls cond every interval until it returns true, an error, or the timeout passes;
// on timeout the error includes the last state cond reported.
func Poll(ctx context.Context, interval, timeout time.Duration, what string, cond func(context.Context) (bool, string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		ok, state, err := cond(ctx)
		var stop *stopError
		if errors.As(err, &stop) {
			return stop.err
		}
		if err != nil && ctx.Err() == nil {
			last = err.Error()
		} else if err == nil {
			last = state
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for %s (last state: %s)", timeout, what, last)
		case <-time.After(interval):
		}
	}
}

// stopError ends a Poll at once: what it waits for will not happen.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }

// WaitDeployments waits until every named deployment ("ns/name") has all replicas updated
// and ready.
func (c *Client) WaitDeployments(ctx context.Context, timeout time.Duration, names ...string) error {
	return Poll(ctx, 500*time.Millisecond, timeout, "deployments "+strings.Join(names, ", ")+" to be ready", func(ctx context.Context) (bool, string, error) {
		var pending []string
		for _, n := range names {
			ns, name, _ := strings.Cut(n, "/")
			d, err := c.Typed.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			if !deploymentReady(d) {
				pending = append(pending, fmt.Sprintf("%s (%d/%d ready)", n, d.Status.ReadyReplicas, ptrOr(d.Spec.Replicas, 1)))
			}
		}
		return len(pending) == 0, "waiting for " + strings.Join(pending, ", "), nil
	})
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func deploymentReady(d *appsv1.Deployment) bool {
	want := ptrOr(d.Spec.Replicas, 1)
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
		d.Status.ReadyReplicas == want && d.Status.Replicas == want
}

// WaitDaemonSet waits until a daemonset is fully rolled out and ready on every node.
func (c *Client) WaitDaemonSet(ctx context.Context, timeout time.Duration, ns, name string) error {
	return Poll(ctx, time.Second, timeout, "daemonset "+ns+"/"+name+" to be ready", func(ctx context.Context) (bool, string, error) {
		d, err := c.Typed.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		s := d.Status
		ok := s.ObservedGeneration >= d.Generation && s.DesiredNumberScheduled > 0 &&
			s.NumberReady == s.DesiredNumberScheduled && s.UpdatedNumberScheduled == s.DesiredNumberScheduled
		if !ok && d.Spec.Selector != nil {
			var looping *crashLoop
			if err := c.crashLooping(ctx, ns, d.Spec.Selector.MatchLabels); errors.As(err, &looping) {
				return false, "", &stopError{err}
			} else if err != nil {
				return false, "", err
			}
		}
		return ok, fmt.Sprintf("%d/%d ready, %d updated", s.NumberReady, s.DesiredNumberScheduled, s.UpdatedNumberScheduled), nil
	})
}

// lastLines are a crash-looping container's last log lines: of its instance that ended
// last (the current one, when it has ended and not yet restarted), else of the previous.
func (c *Client) lastLines(ctx context.Context, ns, pod, container string) string {
	var tail int64 = 5
	var got []string
	for _, previous := range []bool{false, true} {
		raw, err := c.Typed.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, TailLines: &tail, Previous: previous}).DoRaw(ctx)
		if text := strings.TrimSpace(string(raw)); err == nil && text != "" {
			return text
		} else if err != nil {
			got = append(got, err.Error())
		}
	}
	return "(none: " + strings.Join(got, "; ") + ")"
}

// CrashLoopRestarts is how often a container (init containers included) may fail before a
// rollout stops waiting for it: it will not come up by itself.
const CrashLoopRestarts = 3

// crashLoop is a container that will not come up by itself.
type crashLoop struct{ msg string }

func (e *crashLoop) Error() string { return e.msg }

// crashLooping names a pod's container that failed CrashLoopRestarts times, with its exit
// and its last log lines.
func (c *Client) crashLooping(ctx context.Context, ns string, selector map[string]string) error {
	pods, err := c.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		return err // the caller's poll goes on: a transient error is no crash loop
	}
	for _, p := range pods.Items {
		for _, st := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			t := st.LastTerminationState.Terminated
			if st.RestartCount < CrashLoopRestarts || t == nil || t.ExitCode == 0 {
				continue
			}
			return &crashLoop{fmt.Sprintf("pod %s on %s: container %s (%s) failed %d times, last with exit %d (%s); its last log lines:\n%s",
				p.Name, p.Spec.NodeName, st.Name, st.Image, st.RestartCount, t.ExitCode, t.Reason, c.lastLines(ctx, ns, p.Name, st.Name))}
		}
	}
	return nil
}

// WaitNodesReady waits until every node reports Ready.
func (c *Client) WaitNodesReady(ctx context.Context, timeout time.Duration) error {
	return Poll(ctx, time.Second, timeout, "every node to be Ready", func(ctx context.Context) (bool, string, error) {
		nodes, err := c.Typed.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		var notReady []string
		for _, n := range nodes.Items {
			ready := false
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			if !ready {
				notReady = append(notReady, n.Name)
			}
		}
		return len(nodes.Items) > 0 && len(notReady) == 0, fmt.Sprintf("not ready: %v", notReady), nil
	})
}

// DeleteNamespaces deletes namespaces and waits until they are gone.
func (c *Client) DeleteNamespaces(ctx context.Context, timeout time.Duration, names ...string) error {
	for _, n := range names {
		if err := c.Typed.CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s: %w", n, err)
		}
	}
	return Poll(ctx, 500*time.Millisecond, timeout, "namespaces "+strings.Join(names, ", ")+" to be gone", func(ctx context.Context) (bool, string, error) {
		var left []string
		for _, n := range names {
			if _, err := c.Typed.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{}); err == nil {
				left = append(left, n)
			} else if !apierrors.IsNotFound(err) {
				return false, "", err
			}
		}
		return len(left) == 0, fmt.Sprintf("still there: %v", left), nil
	})
}

// RunningPod returns the one running, ready, not-terminating pod matching a selector.
func (c *Client) RunningPod(ctx context.Context, ns string, selector map[string]string) (*corev1.Pod, error) {
	pods, err := c.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: selector})})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s (%v): %w", ns, selector, err)
	}
	var found []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("want exactly one running pod in %s with labels %v, found %d (of %d)", ns, selector, len(found), len(pods.Items))
	}
	return found[0], nil
}

// Clientset is the typed API.
func (c *Client) Clientset() kubernetes.Interface { return c.Typed }

// Exec runs a command in a pod's container through the API server (SPDY/websocket
// remotecommand) and returns stdout and stderr.
func (c *Client) Exec(ctx context.Context, ns, pod, container string, cmd []string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := c.Stream(ctx, ns, pod, container, cmd, nil, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// Stream runs a command in a pod's container, copying stdin (when not nil) to it and its
// output to stdout and stderr as it comes, until the command ends or ctx does.
func (c *Client) Stream(ctx context.Context, ns, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	req := c.Typed.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return err
	}
	ws, err := remotecommand.NewWebSocketExecutor(c.Config, "GET", req.URL().String())
	if err != nil {
		return err
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool { return true })
	if err != nil {
		return err
	}
	return exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}
