package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/netpol"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/star"
)

// Cluster is the simulated twin of a cluster (it satisfies harness.KubeAPI): it keeps the objects applied
// so far and answers `star check` from our evaluator over them (a dataplane that enforces
// exactly what the evaluator computes), with faults to inject. It tests the orchestration
// (what is applied when, what is probed, how results are judged and reported), not the
// policy semantics: those have three oracles of their own (internal/scenario).
type Cluster struct {
	scen       *scenario.Scenario
	externalIP string
	cs         *fake.Clientset

	Mu   sync.Mutex
	ns   map[string]*corev1.Namespace
	Deps map[string]*appsv1.Deployment // "ns/name"
	svcs map[string]*corev1.Service
	Pols map[string]*networkingv1.NetworkPolicy
	// admin are the admin policies applied, by "Kind name".
	admin map[string]scenario.Object
	// Faults.
	Leak    map[matrix.Cell]bool // these cells are allowed whatever the policies say
	DeadPod map[string]bool      // execs into these pods ("ns/pod") fail
	// Watches are the rollouts' watch requests, as star received them.
	Watches []star.Request
	// FailApply makes applying these objects ("ns/name") fail, once each.
	FailApply map[string]error
	// Slow delays every answer of a source ("ns/app"; a watch's probes by that much each);
	// LostDNS drops that many of a source's next DNS lookups (the probe times out:
	// blocked); Generation counts a deployment's ("ns/name") replacements: its pod gets a
	// new name each time.
	Slow    map[string]time.Duration
	LostDNS map[string]int
	// Unreachable makes a cell's next probes blocked (a pod going away or not yet
	// programmed), that many times.
	Unreachable map[matrix.Cell]int
	Generation  map[string]int
	Opened      []string // probe sessions started, "ns/pod"
	// Dual makes the twin dual-stack: pods and services get IPv6 addresses too, the
	// external host ExternalIPv6.
	Dual         bool
	ExternalIPv6 string
	Execs        int
	Rounds       int // answered through sessions
	// Calico, as its pods answer: the version they print, and servers restarted (a held
	// connection to them is cut once).
	CalicoVersion string
	Restarted     map[string]bool // "ns/pod"
	// Dataplane is where the simulated nodes keep Calico's and kube-proxy's rules;
	// BPFAttach how their eBPF programs are attached (empty: TCX).
	Dataplane calico.Dataplane
	BPFAttach calico.BPFAttach
	// EnforceAfter delays a policy's effect on the probes after its apply (applied: when);
	// with DelayPrefix set, only that of the policies whose name starts with it.
	EnforceAfter time.Duration
	DelayPrefix  string
	applied      map[string]time.Time
	// DropAfterChange blocks every probe that starts within that long of a NetworkPolicy's
	// apply or delete (changed: the last one), as eBPF with TCX drops new connections
	// while it re-attaches programs (docs/dataplanes.md, "TCX").
	DropAfterChange time.Duration
	changed         time.Time
	// TrackedDNS makes the nodes' conntrack show one UDP flow to port 53 of a source
	// ("ns/app") for that many more reads, or until it is flushed (Flushes counts those).
	TrackedDNS map[string]int
	Flushes    int
}

// New is an empty twin of a cluster for scenario s, its external host at externalIP.
func New(s *scenario.Scenario, externalIP string) *Cluster {
	return &Cluster{
		scen: s, externalIP: externalIP, cs: fake.NewClientset(),
		ns: map[string]*corev1.Namespace{}, Deps: map[string]*appsv1.Deployment{},
		svcs: map[string]*corev1.Service{}, Pols: map[string]*networkingv1.NetworkPolicy{}, admin: map[string]scenario.Object{},
		Leak: map[matrix.Cell]bool{}, DeadPod: map[string]bool{}, Restarted: map[string]bool{},
		Slow: map[string]time.Duration{}, LostDNS: map[string]int{}, Unreachable: map[matrix.Cell]int{}, Generation: map[string]int{},
		applied: map[string]time.Time{}, TrackedDNS: map[string]int{},
	}
}

// WithCalico adds calico's pods and DaemonSet to the simulated API, at a version.
func (c *Cluster) WithCalico(t interface{ Fatal(...any) }, version string) *Cluster {
	c.CalicoVersion = version
	ready := func(name string) []corev1.ContainerStatus {
		return []corev1.ContainerStatus{{Name: name, Ready: true}}
	}
	objs := []runtime.Object{
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: calico.Namespace, Name: "calico-node"}},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: calico.Namespace, Name: "calico-node-a", Labels: map[string]string{"k8s-app": "calico-node"}},
			Spec:       corev1.PodSpec{NodeName: "sim-worker"}, Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: ready("calico-node")},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: calico.Namespace, Name: "calico-kube-controllers-a", Labels: map[string]string{"k8s-app": "calico-kube-controllers"}},
			Spec:       corev1.PodSpec{NodeName: "sim-worker"}, Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: ready("calico-kube-controllers")},
		},
	}
	for _, o := range objs {
		if err := c.cs.Tracker().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Clientset is the twin's API server (a fake clientset).
func (c *Cluster) Clientset() kubernetes.Interface { return c.cs }

// Apply keeps the objects (namespaces, deployments, services, policies, admin policies).
func (c *Cluster) Apply(_ context.Context, objs ...*unstructured.Unstructured) error {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	for _, u := range objs {
		key := u.GetNamespace() + "/" + u.GetName()
		if err := c.FailApply[key]; err != nil {
			delete(c.FailApply, key)
			return err
		}
		var err error
		switch u.GetKind() {
		case "Namespace":
			var o corev1.Namespace
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &o)
			c.ns[u.GetName()] = &o
		case "Deployment":
			var o appsv1.Deployment
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &o)
			c.Deps[key] = &o
			if err == nil && o.Spec.Replicas != nil && *o.Spec.Replicas > 1 {
				err = c.replicas(&o)
			}
		case "Service":
			var o corev1.Service
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &o)
			c.svcs[key] = &o
			if err == nil {
				err = c.apiService(&o)
			}
		case "NetworkPolicy":
			var o networkingv1.NetworkPolicy
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &o)
			c.Pols[key], c.applied[key], c.changed = &o, time.Now(), time.Now()
			if err == nil {
				err = c.apiPolicy(&o)
			}
		case "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy":
			var o scenario.Object
			if o, err = scenario.AdminFromUnstructured(u.Object); err == nil {
				c.admin[u.GetKind()+" "+u.GetName()] = o
			}
			continue
		default:
			err = fmt.Errorf("sim: kind %s not simulated", u.GetKind())
		}
		if err == nil && u.GetKind() != "Namespace" && c.ns[u.GetNamespace()] == nil {
			err = fmt.Errorf("namespaces %q not found", u.GetNamespace())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// replicas plays a scaled deployment's pods in the API (named DEPLOYMENT-rK-sim, running),
// as the scale benchmark lists them; a re-apply replaces them.
func (c *Cluster) replicas(d *appsv1.Deployment) error {
	pods := c.cs.CoreV1().Pods(d.Namespace)
	list, err := pods.List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range list.Items {
		if strings.HasPrefix(p.Name, d.Name+"-r") {
			if err := pods.Delete(context.Background(), p.Name, metav1.DeleteOptions{}); err != nil {
				return err
			}
		}
	}
	for k := range *d.Spec.Replicas {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: fmt.Sprintf("%s-r%d-sim", d.Name, k), Labels: d.Spec.Template.Labels},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		}
		if _, err := pods.Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes policies (admin ones too).
func (c *Cluster) Delete(_ context.Context, objs ...*unstructured.Unstructured) error {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	for _, u := range objs {
		if _, ok := c.admin[u.GetKind()+" "+u.GetName()]; ok {
			delete(c.admin, u.GetKind()+" "+u.GetName())
			continue
		}
		switch u.GetKind() {
		case "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy":
			continue // not there: nothing to delete
		case "NetworkPolicy":
		default:
			return fmt.Errorf("sim: deleting a %s is not simulated", u.GetKind())
		}
		delete(c.Pols, u.GetNamespace()+"/"+u.GetName())
		c.changed = time.Now()
		_ = c.cs.NetworkingV1().NetworkPolicies(u.GetNamespace()).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{})
	}
	return nil
}

// apiPolicy keeps an applied policy in the simulated API server too, where the harness
// reads back what the server holds. Like the API server it defaults policyTypes and
// ports' protocol, so what is read back is not what was sent.
func (c *Cluster) apiPolicy(p *networkingv1.NetworkPolicy) error {
	held, err := netpol.AsServed(p)
	if err != nil {
		return err
	}
	api := c.cs.NetworkingV1().NetworkPolicies(held.Namespace)
	if _, err := api.Update(context.Background(), held, metav1.UpdateOptions{}); err == nil {
		return nil
	}
	_, err = api.Create(context.Background(), held, metav1.CreateOptions{})
	return err
}

// DeleteNamespaces removes namespaces and everything in them, at once.
func (c *Cluster) DeleteNamespaces(_ context.Context, _ time.Duration, names ...string) error {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	for _, n := range names {
		delete(c.ns, n)
		for _, m := range []map[string]bool{keysIn(c.Deps, n), keysIn(c.svcs, n), keysIn(c.Pols, n)} {
			for k := range m {
				delete(c.Deps, k)
				delete(c.svcs, k)
				delete(c.Pols, k)
			}
		}
		_ = c.cs.NetworkingV1().NetworkPolicies(n).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	}
	return nil
}

func keysIn[T any](m map[string]T, ns string) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		if strings.HasPrefix(k, ns+"/") {
			out[k] = true
		}
	}
	return out
}

// WaitDeployments requires every deployment to exist (calico-kube-controllers once Calico is in).
func (c *Cluster) WaitDeployments(_ context.Context, _ time.Duration, names ...string) error {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	for _, n := range names {
		if c.Deps[n] == nil && (c.CalicoVersion == "" || n != calico.Namespace+"/calico-kube-controllers") {
			return fmt.Errorf("deployment %s: not found", n)
		}
	}
	return nil
}

// WaitDaemonSet returns at once: the twin's DaemonSets are always rolled out.
func (c *Cluster) WaitDaemonSet(context.Context, time.Duration, string, string) error { return nil }

// RunningPod is a deployment's one pod, named after it; its IP is stable per deployment.
func (c *Cluster) RunningPod(_ context.Context, ns string, selector map[string]string) (*corev1.Pod, error) {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	for _, d := range c.sortedDeps() {
		if d.Namespace == ns && matches(selector, d.Spec.Template.Labels) {
			return &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.podName(d), Labels: d.Spec.Template.Labels},
				// Two nodes, alternating, as the proof needs.
				Spec:   corev1.PodSpec{NodeName: fmt.Sprintf("sim-worker%d", slices.Index(c.sortedDeps(), d)%2+1)},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: c.podIP(d), PodIPs: c.podIPs(d)},
			}, nil
		}
	}
	return nil, fmt.Errorf("want exactly one running pod in %s with labels %v, found 0", ns, selector)
}

// podName is a deployment's one pod: DEPLOYMENT-sim, or DEPLOYMENT-gN-sim once replaced.
func (c *Cluster) podName(d *appsv1.Deployment) string {
	if g := c.Generation[d.Namespace+"/"+d.Name]; g > 0 {
		return fmt.Sprintf("%s-g%d-sim", d.Name, g)
	}
	return d.Name + "-sim"
}

// sourceOf is the evaluator's row of a pod ("ns/app"): replicas and replacements answer as
// their deployment.
func sourceOf(ns, pod string) string {
	return ns + "/" + podSuffix.ReplaceAllString(strings.TrimSuffix(pod, "-sim"), "")
}

var podSuffix = regexp.MustCompile(`-[rg]\d+$`)

func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (c *Cluster) sortedDeps() []*appsv1.Deployment {
	var out []*appsv1.Deployment
	for _, d := range c.Deps {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *appsv1.Deployment) int { return strings.Compare(a.Namespace+a.Name, b.Namespace+b.Name) })
	return out
}

func (c *Cluster) podIP(d *appsv1.Deployment) string {
	i := slices.IndexFunc(c.sortedDeps(), func(x *appsv1.Deployment) bool { return x == d })
	return fmt.Sprintf("10.244.0.%d", 10+i)
}

// podIPv6 is a pod's IPv6 address in a dual-stack twin.
func (c *Cluster) podIPv6(d *appsv1.Deployment) string {
	i := slices.IndexFunc(c.sortedDeps(), func(x *appsv1.Deployment) bool { return x == d })
	return fmt.Sprintf("fd00:10:244::%x", 10+i)
}

func (c *Cluster) podIPs(d *appsv1.Deployment) []corev1.PodIP {
	ips := []corev1.PodIP{{IP: c.podIP(d)}}
	if c.Dual {
		ips = append(ips, corev1.PodIP{IP: c.podIPv6(d)})
	}
	return ips
}

// apiService puts a service in the API with its ClusterIP, and in a dual-stack twin one per
// family (IPv6: the IPv4 one's last byte under fd00:10:96::).
func (c *Cluster) apiService(svc *corev1.Service) error {
	n := len(c.svcs) + 10
	o := svc.DeepCopy()
	o.Spec.ClusterIPs = []string{fmt.Sprintf("10.96.0.%d", n)}
	if c.Dual {
		o.Spec.ClusterIPs = append(o.Spec.ClusterIPs, fmt.Sprintf("fd00:10:96::%x", n))
	}
	o.Spec.ClusterIP = o.Spec.ClusterIPs[0]
	svcs := c.cs.CoreV1().Services(o.Namespace)
	_ = svcs.Delete(context.Background(), o.Name, metav1.DeleteOptions{})
	_, err := svcs.Create(context.Background(), o, metav1.CreateOptions{})
	return err
}

// clusterIPs are a service's ClusterIPs in the API.
func (c *Cluster) clusterIPs(ns, name string) []string {
	svc, err := c.cs.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return svc.Spec.ClusterIPs
}

// State is the scenario state the cluster holds now (what the evaluator reads).
func (c *Cluster) State() *scenario.State {
	st := scenario.NewState()
	for _, n := range sortedKeys(c.ns) {
		st.Namespaces = append(st.Namespaces, c.ns[n])
	}
	st.Deployments = c.sortedDeps()
	for _, k := range sortedKeys(c.svcs) {
		st.Services = append(st.Services, c.svcs[k])
	}
	for _, k := range sortedKeys(c.Pols) {
		if time.Since(c.applied[k]) >= c.EnforceAfter || !strings.HasPrefix(c.Pols[k].Name, c.DelayPrefix) {
			st.Policies = append(st.Policies, c.Pols[k])
		}
	}
	for _, k := range sortedKeys(c.admin) {
		st.Admin = append(st.Admin, c.admin[k])
	}
	return st
}

func sortedKeys[T any](m map[string]T) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Exec answers `star check` (one round) from the evaluator, and `star restart-server`.
func (c *Cluster) Exec(_ context.Context, ns, pod, _ string, cmd []string) (string, string, error) {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	c.Execs++
	if c.DeadPod[ns+"/"+pod] {
		return "", "error: unable to upgrade connection: container not found", errors.New("command terminated with exit code 126")
	}
	if joined := strings.Join(cmd, " "); strings.HasPrefix(joined, "sh -c conntrack -D") {
		// conntrack -D of sources' flows to port 53: nothing of theirs is tracked any more.
		for _, d := range c.sortedDeps() {
			if strings.Contains(joined, " -s "+c.podIP(d)+" ") {
				delete(c.TrackedDNS, d.Namespace+"/"+d.Name)
			}
		}
		c.Flushes++
		return "", "", nil
	}
	switch strings.Join(cmd, " ") {
	case "calico-node -v", "/usr/bin/kube-controllers -version":
		return c.CalicoVersion + "\n", "", nil
	case strings.Join(calico.DataplaneCommand, " "):
		// The shapes of the live runs' nodes: Felix's rules (policy chains among them) in
		// iptables or nftables, or, in eBPF mode, a few cali- rules, no policy chain, no
		// kube-proxy and Calico's programs on the node's interfaces (TCX, or tc).
		chains, rules, policy, proxy, bpf := 0, 41, 12, 10, ""
		switch c.Dataplane {
		case calico.Nftables:
			chains, rules, policy, proxy = 37, 0, 9, 12
		case calico.BPF:
			rules, policy, proxy = 30, 0, 0
			var progs []string
			for _, dev := range []string{"eth0", "cali1"} {
				for _, dir := range []string{"ingress", "egress"} {
					progs = append(progs, fmt.Sprintf(`{"devname":%q,"kind":"%s/%s","name":"cali_tc_preambl"}`, dev, c.BPFAttach.Kind(), dir))
				}
			}
			bpf = strings.Join(progs, ",")
		}
		var out strings.Builder
		for _, t := range []string{"nft", "iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save", "bpftool", "ip"} {
			fmt.Fprintf(&out, "version %s sim 1.0\nstatus %s 0\n", t, t)
		}
		fmt.Fprintf(&out, "nft-calico-chains %d\nnft-calico-policy-chains %d\niptables-calico-rules %d\niptables-calico-policy-rules %d\n", chains, min(chains, policy), rules, min(rules, policy))
		fmt.Fprintf(&out, "nft-kube-proxy-chains %d\niptables-kube-proxy-rules %d\niface cali1\n", min(chains, proxy), min(rules, proxy))
		fmt.Fprintf(&out, `bpf-net [{"xdp":[],"tc":[%s],"flow_dissector":[],"netfilter":[]}]`+"\n", bpf)
		return out.String(), "", nil
	case strings.Join(calico.ConntrackDNSCommand, " "):
		// One flow to port 53 per source still tracked, for as many reads as TrackedDNS says.
		var out strings.Builder
		for _, src := range sortedKeys(c.TrackedDNS) {
			if c.TrackedDNS[src] <= 0 {
				continue
			}
			c.TrackedDNS[src]--
			for _, d := range c.sortedDeps() {
				if d.Namespace+"/"+d.Name == src {
					fmt.Fprintf(&out, "udp      17 %d src=%s dst=10.96.0.10 sport=40345 dport=53 packets=2 bytes=204 src=10.244.0.2 dst=%s sport=53 dport=40345 packets=2 bytes=349 [ASSURED] mark=0 use=1\n", 100+c.TrackedDNS[src], c.podIP(d), c.podIP(d))
				}
			}
		}
		return out.String(), "", nil
	case "/star restart-server":
		c.Restarted[ns+"/"+pod] = true
		return "", "", nil
	}
	if len(cmd) < 2 || cmd[1] != "check" {
		return "", "", fmt.Errorf("sim: command %v not simulated", cmd)
	}
	req, err := star.ParseRequest(cmd[2:])
	if err != nil {
		return "", err.Error(), errors.New("exit code 2")
	}
	results, err := c.answer(sourceOf(ns, pod), req.Targets)
	if err != nil {
		return "", err.Error(), errors.New("exit code 1")
	}
	var b strings.Builder
	err = star.WriteResults(&b, results)
	return b.String(), "", err
}

// Stream plays `star check --watch` (every target answered from the evaluator on the
// schedule, each line with its start time) and `--hold` (one connection per target, cut
// once when its server is restarted), until stdin closes.
func (c *Cluster) Stream(ctx context.Context, ns, pod, _ string, cmd []string, stdin io.Reader, stdout, _ io.Writer) error {
	req, err := star.ParseRequest(cmd[2:])
	if err == nil && req.Watch == 0 && req.Hold == 0 && !req.Session {
		err = errors.New("neither --watch, --hold nor --session")
	}
	if err != nil {
		return fmt.Errorf("sim: stream of %v not simulated: %w", cmd, err)
	}
	source := sourceOf(ns, pod)
	if req.Watch > 0 {
		c.Mu.Lock()
		c.Watches = append(c.Watches, req)
		c.Mu.Unlock()
	}
	if req.Session {
		return c.session(source, ns+"/"+pod, stdin, stdout)
	}
	closed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, stdin); close(closed) }()
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(v any) { mu.Lock(); defer mu.Unlock(); _ = enc.Encode(v) }
	cut := map[string]bool{}
	exchanges := 0
	if req.Hold > 0 {
		for _, u := range req.Targets {
			emit(star.HoldEvent{Target: u, Event: "open", At: time.Now().UnixMilli()})
		}
	}
	tick := time.NewTicker(max(req.Watch, req.Hold))
	defer tick.Stop()
	for {
		now := time.Now()
		if req.Watch > 0 {
			c.Mu.Lock()
			results, err := c.answer(source, req.Targets)
			// Stamped when the state was read: a probe's 1 ms then ends after any change
			// it saw (stamping before the read let a leak seem to end before its cause).
			now = time.Now()
			delay := c.Slow[source]
			c.Mu.Unlock()
			if err != nil {
				return err
			}
			for _, r := range results {
				r.At = now
				emit(r)
			}
			time.Sleep(delay) // a slow source misses ticks
		} else {
			exchanges++
			for _, u := range req.Targets {
				c.Mu.Lock()
				server := c.serverOf(u)
				restarted := c.Restarted[server]
				c.Mu.Unlock()
				if restarted && !cut[u] {
					cut[u] = true
					emit(star.HoldEvent{Target: u, Event: "disrupted", Kind: "closed", At: now.UnixMilli(), Detail: "read reply: EOF"})
					emit(star.HoldEvent{Target: u, Event: "open", At: now.UnixMilli()})
				}
				reconnects := 0
				if cut[u] {
					reconnects = 1
				}
				emit(star.HoldEvent{Target: u, Event: "stats", At: now.UnixMilli(), Exchanges: exchanges, WorstGapMs: req.Hold.Milliseconds(), Reconnects: reconnects})
			}
		}
		select {
		case <-closed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// session answers rounds read on stdin until it closes, as `star check --session` does.
func (c *Cluster) session(source, pod string, stdin io.Reader, stdout io.Writer) error {
	c.Mu.Lock()
	c.Opened = append(c.Opened, pod)
	c.Mu.Unlock()
	enc := json.NewEncoder(stdout)
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		var rr star.RoundRequest
		if err := json.Unmarshal(sc.Bytes(), &rr); err != nil {
			return err
		}
		c.Mu.Lock()
		c.Rounds++
		dead := c.DeadPod[pod]
		results, err := c.answer(source, rr.Targets)
		delay := c.Slow[source]
		c.Mu.Unlock()
		time.Sleep(delay)
		if dead {
			return errors.New("error: unable to upgrade connection: container not found")
		}
		if err != nil {
			return err
		}
		for _, r := range results {
			if err := enc.Encode(star.RoundAnswer{Round: rr.Round, Result: r}); err != nil {
				return err
			}
		}
	}
	return nil
}

// serverOf is the pod ("ns/pod") behind a service URL.
func (c *Cluster) serverOf(raw string) string {
	st := c.State()
	targets, err := st.Targets(c.scen)
	if err != nil {
		return ""
	}
	col, _ := c.column(raw, targets)
	for _, t := range targets {
		if t.ID == col && t.Backend != nil {
			return t.Backend.Namespace + "/" + t.Backend.Name + "-sim"
		}
	}
	return ""
}

// answer decides each target URL from source: the evaluator's matrix for the current
// objects (by-name targets failing DNS where the source's DNS is blocked), then the faults.
func (c *Cluster) answer(source string, urls []string) ([]matrix.Result, error) {
	st := c.State()
	ext := scenario.Externals{V4: c.externalIP}
	if c.Dual {
		ext.V6 = c.ExternalIPv6
	}
	byIP, err := st.ExpectedFamilies(c.scen, ext, false)
	if err != nil {
		return nil, err
	}
	byName, err := st.ExpectedFamilies(c.scen, ext, true)
	if err != nil {
		return nil, err
	}
	targets, err := st.Targets(c.scen)
	if err != nil {
		return nil, err
	}
	var out []matrix.Result
	for _, raw := range urls {
		col, named := c.column(raw, targets)
		m := byIP
		if named {
			m = byName
		}
		v, ok := m.Get(source, col)
		if !ok {
			v = matrix.Error
		}
		if c.Leak[matrix.Cell{Row: source, Col: col}] {
			v = matrix.Allowed
		}
		if strings.HasPrefix(raw, "dns+") && c.LostDNS[source] > 0 {
			c.LostDNS[source]--
			v = matrix.Blocked
		}
		if cell := (matrix.Cell{Row: source, Col: col}); c.Unreachable[cell] > 0 {
			c.Unreachable[cell]--
			v = matrix.Blocked
		}
		if time.Since(c.changed) < c.DropAfterChange {
			v = matrix.Blocked
		}
		out = append(out, matrix.Result{URL: raw, Verdict: v, Millis: 1})
	}
	return out, nil
}

// column maps a URL to its target column (its IPv6 twin for a +ipv6 scheme or an IPv6
// address), and says whether it names a host.
func (c *Cluster) column(raw string, targets []scenario.Target) (string, bool) {
	col, named := c.baseColumn(raw, targets)
	if u, err := url.Parse(raw); err == nil && col != "" && (strings.HasSuffix(u.Scheme, "+ipv6") || strings.Contains(u.Hostname(), ":")) {
		col += scenario.IPv6Column
	}
	return col, named
}

func (c *Cluster) baseColumn(raw string, targets []scenario.Target) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	host, port := u.Hostname(), u.Port()
	for _, t := range targets {
		switch t.Kind {
		case scenario.ServiceTarget:
			if host+"." == t.Host || host == t.Host {
				if port == fmt.Sprint(t.Port) {
					return t.ID, true
				}
			}
			if (host == c.podIP(t.Backend) || c.Dual && host == c.podIPv6(t.Backend)) && port == fmt.Sprint(t.PodPort.ContainerPort) {
				return t.ID, false
			}
			if slices.Contains(c.clusterIPs(t.Service.Namespace, t.Service.Name), host) && port == fmt.Sprint(t.Port) {
				return t.ID, false
			}
		case scenario.DNSLookupTarget:
			if strings.HasPrefix(u.Scheme, "dns+") && strings.EqualFold(strings.TrimSuffix(strings.TrimPrefix(u.Scheme, "dns+"), "+ipv6"), string(t.DNS.Protocol)) {
				return t.ID, true
			}
		case scenario.ExternalHostTarget:
			if host == c.externalIP || c.Dual && host == c.ExternalIPv6 {
				return t.ID, false
			}
		}
	}
	return "", false
}
