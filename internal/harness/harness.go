package harness

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/kube"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/star"
)

// Config tunes a run.
type Config struct {
	ProbeTimeout time.Duration
	DNSTimeout   time.Duration
	// ConfirmTimeout is the confirming round's connect timeout (a slow leak is not blocked).
	ConfirmTimeout   time.Duration
	ConvergeDeadline time.Duration
	// ByPodIP and ByClusterIP probe services at their pods' or their ClusterIPs instead
	// of by name.
	ByPodIP, ByClusterIP bool
	ExternalIP           string
	// Dual: the cluster is dual-stack; ExternalIPv6 is the external host's IPv6 address.
	Dual         bool
	ExternalIPv6 string
	Kubeconfig   string
	ReadyTimeout time.Duration
	// ConntrackUDPTimeout is how long the dataplane tracks a UDP flow after its last packet:
	// the nodes' nf_conntrack_udp_timeout, or Felix's BPF conntrack timeout in eBPF mode.
	ConntrackUDPTimeout time.Duration
	// NodeConntrack: the nodes' conntrack tracks the pods' flows (the iptables and
	// nftables dataplanes), so a change that closes UDP flows is judged once it tracks none
	// of them (settleUDP); otherwise after ConntrackUDPTimeout.
	NodeConntrack bool
	// CalicoLogAllowlist lists the calico error log lines that do not fail a run.
	CalicoLogAllowlist calico.Allowlist
	// Enforce is the policy steps' enforcement watch (zero: DefaultEnforce).
	Enforce EnforceSpec
	// Dataplane is the cluster's; BPFAttach how its eBPF mode attaches programs.
	Dataplane calico.Dataplane
	BPFAttach calico.BPFAttach
}

// Harness drives one scenario on one cluster.
type Harness struct {
	Cfg      Config
	Kube     KubeAPI
	Scenario *scenario.Scenario
	States   []*scenario.State
	Engine   *probe.Engine
	Log      io.Writer

	health *healthMark
}

// New loads nothing itself: s must be loaded (scenario.Load) before any cluster work.
func New(cfg Config, k KubeAPI, s *scenario.Scenario, log io.Writer) (*Harness, error) {
	states, err := s.States()
	if err != nil {
		return nil, err
	}
	return &Harness{
		Cfg: cfg, Kube: k, Scenario: s, States: states, Log: log,
		Engine: &probe.Engine{Exec: k, Sessions: k, Timeout: cfg.ProbeTimeout, DNSTimeout: cfg.DNSTimeout, ConfirmTimeout: cfg.ConfirmTimeout, Binary: star.Binary, Kubectl: "kubectl --kubeconfig " + cfg.Kubeconfig},
	}, nil
}

// Unstructured converts a step's decoded objects for server-side apply.
func Unstructured(objs []scenario.Object) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		var obj runtime.Object
		switch {
		case o.Namespace != nil:
			obj = o.Namespace
		case o.Deployment != nil:
			obj = o.Deployment
		case o.Service != nil:
			obj = o.Service
		case o.AdminObject != nil:
			obj = o.AdminObject
		default:
			obj = o.Policy
		}
		u, err := kube.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// Apply applies objects, namespaces first.
func (h *Harness) Apply(ctx context.Context, objs []scenario.Object) error {
	us, err := Unstructured(objs)
	if err != nil {
		return err
	}
	var first, rest []*unstructured.Unstructured
	for _, u := range us {
		if u.GetKind() == "Namespace" {
			first = append(first, u)
		} else {
			rest = append(rest, u)
		}
	}
	return h.Kube.Apply(ctx, append(first, rest...)...)
}

// RunStep runs step i of the scenario and returns its report.
func (h *Harness) RunStep(ctx context.Context, i int) *report.Step { return h.Step(i).Run(ctx) }

// Step is step i of the scenario as a check: Setup starts a policy step's enforcement
// watch and applies the step's objects (or deletes its namespaces), Assess probes until
// its fixture shows and times each changed cell.
func (h *Harness) Step(i int) *check.Check {
	step := &h.Scenario.Steps[i]
	var ew *enforcementWatch
	var t0 time.Time
	return &check.Check{
		Name: step.Name, Kind: "step",
		Setup: func(ctx context.Context, rs *report.Step) error {
			t0 = time.Now()
			// A policy step's changed cells are watched on a fixed schedule from before the apply.
			var err error
			if ew, err = h.startEnforcementWatch(ctx, i); err != nil {
				return err
			}
			// Apply the step's objects, or delete its namespaces.
			if len(step.Objects) > 0 {
				if _, err := h.applyWatched(ctx, step.Objects, ew); err != nil {
					return err
				}
				fmt.Fprintf(h.Log, "%s: applied %d objects from %s\n", step.Name, len(step.Objects), strings.Join(step.Apply, ", "))
			}
			if step.DeleteAdminPolicies {
				if err := h.deleteAdminPolicies(ctx); err != nil {
					return err
				}
			}
			if len(step.DeleteNamespaces) > 0 {
				if err := h.Kube.DeleteNamespaces(ctx, 3*time.Minute, step.DeleteNamespaces...); err != nil {
					return err
				}
				rs.Deletion = &report.Deletion{Namespaces: step.DeleteNamespaces, Gone: time.Since(t0)}
			}
			return nil
		},
		Assess: func(ctx context.Context, rs *report.Step) error {
			if step.Fixture == "" {
				return nil
			}
			if err := h.assess(ctx, rs, i, t0, true); err != nil {
				rs.Fail(err) // first: finishing the watch then keeps the rounds' verdict
			}
			if ew != nil {
				h.finishEnforcement(ctx, rs, step.Objects, ew)
			}
			return nil
		},
		Teardown: func(context.Context, *report.Step) error {
			if ew != nil {
				ew.sess.Stop() // a no-op after finishEnforcement
			}
			return nil
		},
	}
}

// Verify probes the state after step i again, applying nothing: after a Calico rollout,
// the end-state matrix (DNS and external columns included) must still hold.
func (h *Harness) Verify(i int, name string) *check.Check {
	return &check.Check{Name: name, Kind: "step", Assess: func(ctx context.Context, rs *report.Step) error {
		return h.assess(ctx, rs, i, time.Now(), false)
	}}
}

// assess waits for the app's pods and probes until the state after step i shows; for a
// step that changed something (not a verify), it says when each cell that had to change
// first showed its new verdict.
func (h *Harness) assess(ctx context.Context, rs *report.Step, i int, since time.Time, changed bool) error {
	step, st := &h.Scenario.Steps[i], h.States[i]
	// Wait for the app's pods (all of them: a step may replace a deployment).
	if err := h.waitApps(ctx, st); err != nil {
		return err
	}
	want, err := h.Expected(step, st)
	if err != nil {
		return err
	}
	// What the step changes: from the previous step's matrix (nothing, for a verify);
	// nothing is known before the first step. The cells of pods the step rolls out count
	// as new: their pods change even where their verdict does not.
	before := want
	if changed {
		before = nil
		if i > 0 && h.Scenario.Steps[i-1].Fixture != "" {
			prev, err := h.Scenario.LoadFixture(&h.Scenario.Steps[i-1], h.States[i-1])
			if err != nil {
				return err
			}
			if before, err = h.withoutReplaced(h.families(prev), st, step.Objects); err != nil {
				return err
			}
		}
	}
	return h.assessFrom(ctx, rs, i, since, want, before)
}

// VerifyAdminRestored checks step i's matrix again right after its admin policies were
// applied to a cluster that enforced none of them (after an admin loss): the cells their
// loss changed may converge, every other cell is judged at once.
func (h *Harness) VerifyAdminRestored(i int, name string) *check.Check {
	return &check.Check{Name: name, Kind: "step", Assess: func(ctx context.Context, rs *report.Step) error {
		t0 := time.Now()
		st := h.States[i]
		want, err := h.Expected(&h.Scenario.Steps[i], st)
		if err != nil {
			return err
		}
		before, err := st.WithoutAdmin().ExpectedFamilies(h.Scenario, h.Externals(), false)
		if err != nil {
			return err
		}
		return h.assessFrom(ctx, rs, i, t0, want, before)
	}}
}

// assessFrom checks the policies the server holds with the peer engine and converges from
// before (the matrix the cluster showed; want for nothing changed) to want.
func (h *Harness) assessFrom(ctx context.Context, rs *report.Step, i int, since time.Time, want, before *matrix.Matrix) error {
	st := h.States[i]
	if err := h.peerOnServer(ctx, st, want); err != nil {
		return err
	}
	out, plan, err := h.converge(ctx, st, want, before, since)
	if err != nil {
		return err
	}
	h.fill(rs, want, out, plan)
	if before != nil && before != want {
		rs.Change = changeLatency(before, want, out)
	}
	return nil
}

func (h *Harness) waitApps(ctx context.Context, st *scenario.State) error {
	var names []string
	for _, src := range st.Sources() {
		names = append(names, src.ID)
	}
	return h.Kube.WaitDeployments(ctx, h.Cfg.ReadyTimeout, names...)
}

// Expected reads the declared fixture and checks it against the evaluator once more, with
// the real address of the external host, for every family of the cluster: one fixture
// serves all families, and the run expects it on each (families).
func (h *Harness) Expected(step *scenario.Step, st *scenario.State) (*matrix.Matrix, error) {
	want, err := h.Scenario.LoadFixture(step, st)
	if err != nil {
		return nil, err
	}
	want = h.families(want)
	ext := h.Externals()
	computed, err := st.ExpectedFamilies(h.Scenario, ext, false)
	if err != nil {
		return nil, err
	}
	mm, err := matrix.Compare(want, computed)
	if err != nil {
		return nil, err
	}
	if len(mm) > 0 {
		return nil, fmt.Errorf("%s disagrees with the computed matrix (external host %s):\n%s", step.Fixture, strings.TrimSuffix(ext.V4+" "+ext.V6, " "), matrix.RenderDiff(want, mm))
	}
	return want, nil
}

// withoutReplaced marks the cells of the pods objs roll out as not known before (new).
func (h *Harness) withoutReplaced(before *matrix.Matrix, st *scenario.State, objs []scenario.Object) (*matrix.Matrix, error) {
	rows, cols, err := st.Replaced(h.Scenario, objs)
	if err != nil || len(rows)+len(cols) == 0 {
		return before, err
	}
	out := before.Clone()
	for _, r := range out.Rows {
		for _, c := range out.Cols {
			if slices.Contains(rows, r) || slices.Contains(cols, c) {
				_ = out.Set(r, c, matrix.NotProbed)
			}
		}
	}
	return out, nil
}

// peerOnServer has the peer engine (cyclonus) judge the policies as the API server holds
// them, its defaults applied (policyTypes, protocols), instead of as our loader decoded
// them: the expectation must hold for those too. A policy of the state that the server
// lacks, or one it has that the state lacks, is an error of its own.
func (h *Harness) peerOnServer(ctx context.Context, st *scenario.State, want *matrix.Matrix) error {
	var held []*networkingv1.NetworkPolicy
	for _, ns := range st.Namespaces {
		list, err := h.Kube.Clientset().NetworkingV1().NetworkPolicies(ns.Name).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("read back the NetworkPolicies of %s: %w", ns.Name, err)
		}
		for i := range list.Items {
			held = append(held, &list.Items[i])
		}
	}
	name := func(p *networkingv1.NetworkPolicy) string { return p.Namespace + "/" + p.Name }
	var ours, theirs []string
	for _, p := range st.Policies {
		ours = append(ours, name(p))
	}
	for _, p := range held {
		theirs = append(theirs, name(p))
	}
	slices.Sort(ours)
	slices.Sort(theirs)
	if !slices.Equal(ours, theirs) {
		return fmt.Errorf("the API server holds the NetworkPolicies %v, the step expects %v", theirs, ours)
	}
	live := st.Clone()
	live.Policies = held
	if len(st.Admin) > 0 {
		// The peer knows NetworkPolicy only: with admin policies in force it judges the
		// namespaces' layer, against our evaluator on the same.
		live.Admin = nil
		var err error
		if want, err = live.ExpectedFamilies(h.Scenario, h.Externals(), false); err != nil {
			return err
		}
	}
	peer, err := scenario.PeerMatrix(h.Scenario, live, h.Externals())
	if err != nil {
		return err
	}
	mm, err := matrix.Compare(want, peer)
	if err != nil {
		return err
	}
	if len(mm) > 0 {
		return fmt.Errorf("on the policies as the API server holds them, the peer engine (cyclonus) disagrees with the expectation:\n%s", matrix.RenderDiff(want, mm))
	}
	return nil
}

// Externals are the external host's addresses (IPv6 too on a dual-stack cluster).
func (h *Harness) Externals() scenario.Externals {
	ext := scenario.Externals{V4: h.Cfg.ExternalIP}
	if h.Cfg.Dual {
		ext.V6 = h.Cfg.ExternalIPv6
	}
	return ext
}

// families is a family-blind matrix as this run probes it: on a dual-stack cluster every
// column again, over IPv6.
func (h *Harness) families(m *matrix.Matrix) *matrix.Matrix {
	if !h.Cfg.Dual {
		return scenario.IPv4Only(m)
	}
	return scenario.WithIPv6(m)
}

func (h *Harness) converge(ctx context.Context, st *scenario.State, want, before *matrix.Matrix, since time.Time) (*probe.Outcome, probe.Plan, error) {
	plan, err := h.Plan(ctx, st)
	if err != nil {
		return nil, plan, err
	}
	out, err := h.Engine.Converge(ctx, plan, want, before, since, h.Cfg.ConvergeDeadline)
	return out, plan, err
}

// fill records an outcome into a report step.
func (h *Harness) fill(rs *report.Step, want *matrix.Matrix, out *probe.Outcome, plan probe.Plan) {
	h.Record(rs, want, out.Observed, out.Details, plan)
	rs.Converged, rs.FirstTry, rs.Rounds, rs.Latency = out.Converged, out.FirstTry, out.Rounds, out.Latency
	rs.RoundTimes = report.NewRoundTimes(out.RoundTimes, out.ConfirmTimeout)
	if len(out.Leaks) > 0 {
		rs.Mismatches = out.Leaks
		rs.Failf("%d cells seen wrong in the round that started %s after the change, outside what it changes (%d cells may converge; a leak is never retried):\n%s",
			len(out.Leaks), out.LeakAt.Round(time.Millisecond), out.Changing, mismatchList(out.Leaks))
		if slices.ContainsFunc(out.Leaks, func(m matrix.Mismatch) bool { return m.Want == matrix.Allowed && m.Got == matrix.Blocked }) {
			rs.Evidence(h.TCXWindow()...)
		}
		return
	}
	if !out.Converged {
		rs.Mismatches = out.Mismatches
		broken := 0
		for _, m := range out.Mismatches {
			if m.Broken() {
				broken++
			}
		}
		rs.Failf("%d cells differ from the expectation after %s (%d rounds)", len(out.Mismatches), h.Cfg.ConvergeDeadline, out.Rounds)
		if broken > 0 {
			rs.Evidence(fmt.Sprintf("%d of them are a broken test (refused, dns-failure or error where a verdict was expected), not a policy result", broken))
		}
	}
}

// changeLatency says, for the cells the step had to change (their verdict differs from
// the previous step's), from when each showed its new verdict in every round (the start of
// the first such round): the distribution, the slowest cell, and any that flipped back.
func changeLatency(prev, want *matrix.Matrix, out *probe.Outcome) *report.Change {
	if prev == nil {
		return nil
	}
	var times []time.Duration
	var slowest matrix.Cell
	for _, c := range want.ProbedCells() {
		w, _ := want.Get(c.Row, c.Col)
		p, ok := prev.Get(c.Row, c.Col)
		at, seen := out.Settled[c]
		if !ok || p == w || p == matrix.NotProbed || !seen {
			continue
		}
		if len(times) == 0 || at > slices.Max(times) {
			slowest = c
		}
		times = append(times, at)
	}
	if len(times) == 0 {
		return nil
	}
	return &report.Change{Cells: len(times), Median: report.Median(times), Slowest: slices.Max(times), SlowestCell: slowest, FlippedBack: len(out.FlippedBack)}
}

// Record puts a round into a report step: both matrices, and every probed cell's result,
// each wrong one with its repro command.
func (h *Harness) Record(rs *report.Step, want, obs *matrix.Matrix, results map[matrix.Cell]matrix.Result, plan probe.Plan) {
	rs.Expected, rs.Observed, rs.Results = want, obs, nil
	for _, c := range want.ProbedCells() {
		r, ok := results[c]
		if !ok {
			r = matrix.Result{Cell: c, Verdict: matrix.NotProbed}
		}
		if w, _ := want.Get(c.Row, c.Col); w != r.Verdict {
			r.Repro = h.Engine.Repro(plan, c)
		}
		rs.Results = append(rs.Results, r)
	}
}

// Plan finds each source's running pod and each target's address.
func (h *Harness) Plan(ctx context.Context, st *scenario.State) (probe.Plan, error) {
	var p probe.Plan
	for _, src := range st.Sources() {
		d := src.Deployment
		pod, err := h.Kube.RunningPod(ctx, d.Namespace, d.Spec.Selector.MatchLabels)
		if err != nil {
			return p, fmt.Errorf("source %s: %w", src.ID, err)
		}
		p.Sources = append(p.Sources, probe.Source{ID: src.ID, Namespace: d.Namespace, Pod: pod.Name, Container: d.Spec.Template.Spec.Containers[0].Name})
	}
	targets, err := st.Targets(h.Scenario)
	if err != nil {
		return p, err
	}
	addrs, err := h.serviceAddresses(ctx, targets)
	if err != nil {
		return p, err
	}
	families := []bool{false}
	if h.Cfg.Dual {
		families = append(families, true)
	}
	for _, v6 := range families {
		ts, err := h.targetURLs(targets, addrs, v6)
		if err != nil {
			return p, err
		}
		p.Targets = append(p.Targets, ts...)
	}
	return p, nil
}

// serviceAddr is where a service target is probed instead of its name.
type serviceAddr struct {
	ips  []string
	port int32
}

// targetURLs are the probes of a state's targets over one family (the IPv6 columns carry
// scenario.IPv6Column): a service by name resolved to that family only (A or AAAA), or by
// its pod's or its Service's address of that family (ByPodIP, ByClusterIP); a DNS lookup
// of A or AAAA records; the external host at its address of that family.
func (h *Harness) targetURLs(targets []scenario.Target, addrs map[string]serviceAddr, v6 bool) ([]probe.Target, error) {
	suffix, external := "", h.Cfg.ExternalIP
	if v6 {
		suffix, external = scenario.IPv6Column, h.Cfg.ExternalIPv6
	}
	var out []probe.Target
	for _, t := range targets {
		id := t.ID + suffix
		var url string
		switch t.Kind {
		case scenario.ServiceTarget:
			url = star.StatusURL(t.Host, t.Port, v6)
			if a, ok := addrs[t.ID]; ok {
				ip := kube.AddressOf(a.ips, v6)
				if ip == "" {
					return nil, fmt.Errorf("target %s: no address of that family among %v", id, a.ips)
				}
				url = star.StatusURL(ip, a.port, v6)
			}
		case scenario.DNSLookupTarget:
			url = star.LookupURL(t.Host, strings.ToLower(string(t.DNS.Protocol)), v6)
		case scenario.ExternalHostTarget:
			if external == "" {
				return nil, fmt.Errorf("target %s: no address of the external host (the external container did not start, or has no IPv6 address)", id)
			}
			url = star.StatusURL(external, t.Port, v6)
		}
		out = append(out, probe.Target{ID: id, URL: url})
	}
	return out, nil
}

// serviceAddresses are, per service target, the addresses it is probed at instead of its
// name, fetched once for every family: its pod's (ByPodIP, on the container port) or its
// Service's ClusterIPs (ByClusterIP, on the service port); none when probed by name.
func (h *Harness) serviceAddresses(ctx context.Context, targets []scenario.Target) (map[string]serviceAddr, error) {
	out := map[string]serviceAddr{}
	for _, t := range targets {
		if t.Kind != scenario.ServiceTarget {
			continue
		}
		switch {
		case h.Cfg.ByPodIP:
			pod, err := h.Kube.RunningPod(ctx, t.Backend.Namespace, t.Backend.Spec.Selector.MatchLabels)
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", t.ID, err)
			}
			out[t.ID] = serviceAddr{kube.PodIPs(pod), t.PodPort.ContainerPort}
		case h.Cfg.ByClusterIP:
			svc, err := h.Kube.Clientset().CoreV1().Services(t.Service.Namespace).Get(ctx, t.Service.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", t.ID, err)
			}
			out[t.ID] = serviceAddr{svc.Spec.ClusterIPs, t.Port}
		}
	}
	return out, nil
}

// ByName reports whether services are probed by name (so a source without DNS fails them).
func (h *Harness) ByName() bool { return !h.Cfg.ByPodIP && !h.Cfg.ByClusterIP }

// deleteAdminPolicies deletes every admin policy of the scenario, in every form (an upgrade
// may have applied both): cluster-scoped, they outlive the namespaces. A kind the cluster
// does not know (its CRD absent) holds nothing to delete.
func (h *Harness) deleteAdminPolicies(ctx context.Context) error {
	for _, o := range h.Scenario.AllAdminObjects() {
		us, err := Unstructured([]scenario.Object{o})
		if err != nil {
			return err
		}
		if err := h.Kube.Delete(ctx, us...); err != nil && !meta.IsNoMatchError(err) {
			return err
		}
	}
	return nil
}

// TCXWindow explains, on eBPF with TCX, an allowed flow seen blocked outside a change:
// what Calico does there (measured, docs/dataplanes.md "TCX"); empty elsewhere. It changes
// no verdict.
func (h *Harness) TCXWindow() []string {
	if h.Cfg.Dataplane != calico.BPF || h.Cfg.BPFAttach != calico.AttachTCX {
		return nil
	}
	return []string{"On eBPF with TCX, Calico v3.31.7 to v3.33 re-attach all the programs of every pod a changed policy selects, " +
		"and drop that pod's new connections for a few ms meanwhile (the default-deny program stands in the policy's slot); " +
		"a connection lost so shows as an allowed cell blocked. -bpf-attach=tc replaces only the policy program (docs/dataplanes.md, \"TCX\")."}
}
