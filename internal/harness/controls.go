package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// Control replaces policies of the state after step i with a variant file, predicts with
// the evaluator which cells change, requires the live cluster to show exactly those
// changes, then restores the originals and requires the step's fixture again. It is the
// proof that the harness can fail: the predicted cells must be non-empty, and a harness
// that saw nothing would report them as missing.
func (h *Harness) Control(ctx context.Context, name string, i int, variantFile string) *report.Step {
	step := &h.Scenario.Steps[i]
	st := h.States[i]
	rs := &report.Step{Name: name, Kind: "check"}
	t0 := time.Now()
	defer func() { rs.Duration = time.Since(t0) }()
	fail := func(format string, args ...any) *report.Step {
		rs.Failure = fmt.Sprintf(format, args...)
		return rs
	}
	fixture, err := h.expected(step, st)
	if err != nil {
		return fail("%v", err)
	}
	variant, err := scenario.LoadObjects(variantFile)
	if err != nil {
		return fail("%v", err)
	}
	vst := st.Clone()
	if err := vst.Apply(&scenario.Step{Name: name, Objects: variant}); err != nil {
		return fail("%v", err)
	}
	want, err := vst.Expected(h.Scenario, h.Cfg.ExternalIP)
	if err != nil {
		return fail("%v", err)
	}
	if !h.Cfg.ByPodIP {
		targets, err := vst.Targets(h.Scenario)
		if err != nil {
			return fail("%v", err)
		}
		scenario.NamesNeedDNS(want, targets)
	}
	predicted, err := matrix.Compare(fixture, want)
	if err != nil {
		return fail("%v", err)
	}
	if len(predicted) == 0 {
		return fail("variant %s changes no cell of %s: it proves nothing", variantFile, step.Name)
	}
	for _, p := range predicted {
		rs.Notes = append(rs.Notes, "predicted change: "+p.String())
	}
	// Apply the variant and probe until the cluster shows the variant's matrix; whatever
	// happens, restore the originals and require the step's fixture again, so that a
	// failed control never leaks into the following steps.
	applied := time.Now()
	if err := h.Apply(ctx, variant); err != nil {
		rs.Failure = err.Error()
	} else {
		since := h.settleUDP(ctx, rs, predicted, applied)
		h.assessVariant(ctx, rs, step, vst, fixture, want, predicted, since)
	}
	restored := time.Now()
	if err := h.restore(ctx, st, variant); err != nil {
		rs.Failure = strings.TrimSpace(rs.Failure + "\nrestore: " + err.Error())
		return rs
	}
	back, _, err := h.converge(ctx, st, fixture, restored)
	switch {
	case err != nil:
		rs.Failure = strings.TrimSpace(rs.Failure + "\nrestore: " + err.Error())
	case !back.Converged:
		rs.Failure = strings.TrimSpace(rs.Failure + fmt.Sprintf("\nafter restoring, %d cells still differ from %s:\n%s", len(back.Mismatches), step.Fixture, matrix.RenderDiff(fixture, back.Mismatches)))
	default:
		rs.Notes = append(rs.Notes, fmt.Sprintf("originals restored; %s matched again after %s", step.Fixture, back.Latency.Round(time.Millisecond)))
	}
	return rs
}

// assessVariant probes the variant until it shows, then checks that against the unchanged
// fixture the harness flags exactly the predicted cells.
func (h *Harness) assessVariant(ctx context.Context, rs *report.Step, step *scenario.Step, vst *scenario.State, fixture, want *matrix.Matrix, predicted []matrix.Mismatch, applied time.Time) {
	out, plan, err := h.converge(ctx, vst, want, applied)
	if err != nil {
		rs.Failure = err.Error()
		return
	}
	h.fill(rs, want, out, plan)
	if rs.Failure != "" {
		return
	}
	seen, err := matrix.Compare(fixture, out.Observed)
	if err != nil {
		rs.Failure = err.Error()
		return
	}
	if !sameCells(seen, predicted) {
		rs.Failure = fmt.Sprintf("against %s the harness flagged %d cells, the variant changes %d:\nflagged:\n%s\npredicted:\n%s",
			step.Fixture, len(seen), len(predicted), mismatchList(seen), mismatchList(predicted))
		return
	}
	rs.Notes = append(rs.Notes, fmt.Sprintf("variant enforced after %s; against the unchanged fixture the harness flags exactly the %d predicted cells", out.Latency.Round(time.Millisecond), len(predicted)))
}

// settleUDP waits out the UDP conntrack timeout when the variant denies a UDP flow that
// was allowed. Calico, like any stateful filter, accepts packets of flows conntrack
// already tracks; a DNS query whose random source port matches an entry created before the
// change still passes, for up to nf_conntrack_udp_timeout. Probing before then would
// report those as leaks of the variant; this is the dataplane's documented behaviour,
// not the policy's, so the control starts judging once it cannot happen any more.
// It returns the time judging starts from.
func (h *Harness) settleUDP(ctx context.Context, rs *report.Step, predicted []matrix.Mismatch, applied time.Time) time.Time {
	udp := false
	for _, p := range predicted {
		if p.Want == matrix.Allowed && strings.HasSuffix(p.Col, "/udp") {
			udp = true
		}
	}
	if !udp || h.Cfg.ConntrackUDPTimeout <= 0 {
		return applied
	}
	wait := h.Cfg.ConntrackUDPTimeout + 2*time.Second
	rs.Notes = append(rs.Notes, fmt.Sprintf("the variant denies UDP flows that were allowed: waiting %s (nf_conntrack_udp_timeout %s) before judging, so no flow tracked before the change is left", wait, h.Cfg.ConntrackUDPTimeout))
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(applied.Add(wait))):
	}
	return time.Now()
}

// restore re-applies the state's version of each variant object, deleting those it lacks.
func (h *Harness) restore(ctx context.Context, st *scenario.State, variant []scenario.Object) error {
	var back []scenario.Object
	var gone []*unstructured.Unstructured
	for _, v := range variant {
		if v.Policy == nil {
			return fmt.Errorf("%s:%d: a control variant may only hold NetworkPolicies", v.File, v.Line)
		}
		i := slices.IndexFunc(st.Policies, func(p *networkingv1.NetworkPolicy) bool {
			return p.Namespace == v.Policy.Namespace && p.Name == v.Policy.Name
		})
		if i >= 0 {
			back = append(back, scenario.Object{File: "restore", Policy: st.Policies[i]})
			continue
		}
		us, err := Unstructured([]scenario.Object{v})
		if err != nil {
			return err
		}
		gone = append(gone, us...)
	}
	if err := h.Apply(ctx, back); err != nil {
		return err
	}
	return h.Kube.Delete(ctx, gone...)
}

func sameCells(a, b []matrix.Mismatch) bool {
	key := func(m []matrix.Mismatch) []string {
		var out []string
		for _, x := range m {
			out = append(out, x.Row+"|"+x.Col+"|"+x.Got.String())
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

func mismatchList(m []matrix.Mismatch) string {
	var b strings.Builder
	for _, x := range m {
		b.WriteString("  " + x.String() + "\n")
	}
	return b.String()
}
