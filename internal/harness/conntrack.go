package harness

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/kube"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
)

// MaxUDPSettle bounds settleUDP's wait on the nodes' conntrack. A DNS flow is tracked at
// most nf_conntrack_udp_timeout_stream (120 s) after its last packet, but a lookup that
// reuses its port refreshes it. Measured here (nftables): after 611 tracked flows of one
// pod (20 lookups at a time for 4 minutes) and DNS closed, the last was gone after 196 s,
// its star prober's lookups refreshing some for the first 80 s. After the harness's own
// light probing the wait is the 30 s of a one-query flow.
const MaxUDPSettle = 4 * time.Minute

// settleUDP waits, when a change denies UDP flows that were allowed, until no flow tracked
// before the change can carry them, and returns when judging may start. Calico, like any
// stateful filter, passes the packets of flows conntrack tracks: a lookup whose random
// source port matches a tracked flow of its pod to port 53 is answered. Measured here
// (nftables, 20 lookups at a time): a DNS flow whose port a later lookup reused becomes a
// stream tracked 120 s after its last packet, and each lookup it answers refreshes it; after
// heavy probing the closed DNS kept answering some lookups 83 s on (measurements-2026-12-03). That is the dataplane's
// documented behaviour, not the policy's, so judging waits for what the change closed: with
// the nodes' conntrack (iptables, nftables) until the source pods' nodes track no UDP flow
// of theirs to port 53 (read every 2 s, at most MaxUDPSettle); in eBPF mode, whose
// conntrack is Felix's own, for its UDP timeout. A conntrack it cannot read is an error:
// judging without knowing could call the dataplane's behaviour a leak.
func (h *Harness) settleUDP(ctx context.Context, rs *report.Step, st *scenario.State, closing []matrix.Mismatch, applied time.Time) (time.Time, error) {
	var rows []string
	for _, m := range closing {
		if m.Want == matrix.Allowed && strings.HasSuffix(m.Col, "/udp") && !slices.Contains(rows, m.Row) {
			rows = append(rows, m.Row)
		}
	}
	switch {
	case len(rows) == 0:
		return applied, nil
	case !h.Cfg.NodeConntrack:
		if h.Cfg.ConntrackUDPTimeout <= 0 {
			return applied, nil
		}
		wait := h.Cfg.ConntrackUDPTimeout + 2*time.Second
		rs.Notes = append(rs.Notes, fmt.Sprintf("the change denies UDP flows that were allowed: waiting %s (the dataplane's UDP conntrack timeout %s) before judging", wait, h.Cfg.ConntrackUDPTimeout))
		sleep(ctx, time.Until(applied.Add(wait)))
		return time.Now(), nil
	}
	var first []string
	for {
		var tracked []string
		for _, row := range rows {
			pod, lines, err := h.dnsFlowsOf(ctx, st, row)
			if err != nil {
				return time.Time{}, fmt.Errorf("the change denies UDP flows that were allowed, and what %s's node tracks of them cannot be read: %w", row, err)
			}
			for _, l := range lines {
				tracked = append(tracked, fmt.Sprintf("%s (%s on %s): %s", row, pod.Name, pod.Spec.NodeName, l))
			}
		}
		if first == nil {
			first = append([]string{}, tracked...)
		}
		waited := time.Since(applied).Round(time.Second)
		switch {
		case len(tracked) == 0:
			rs.Notes = append(rs.Notes, fmt.Sprintf("the change denies UDP flows that were allowed: judging once %s tracked no UDP flow to port 53 any more, %s after the change (%d tracked at first, the longest for %s more)",
				strings.Join(rows, ", "), waited, len(first), longestTracked(first)))
			return time.Now(), nil
		case ctx.Err() != nil:
			return time.Time{}, ctx.Err()
		case time.Since(applied) > MaxUDPSettle:
			rs.Notes = append(rs.Notes, fmt.Sprintf("the change denies UDP flows that were allowed; %s after it the nodes still track %d of them (judging now, a lookup on one of their ports is answered):\n  %s",
				waited, len(tracked), strings.Join(tracked[:min(len(tracked), 10)], "\n  ")))
			return time.Now(), nil
		}
		sleep(ctx, 2*time.Second)
	}
}

// longestTracked is the longest remaining timeout among conntrack lines ("udp 17 SECS ...").
func longestTracked(lines []string) time.Duration {
	var longest time.Duration
	for _, l := range lines {
		if f := strings.Fields(l[strings.Index(l, ": ")+2:]); len(f) > 2 {
			if s, err := strconv.Atoi(f[2]); err == nil {
				longest = max(longest, time.Duration(s)*time.Second)
			}
		}
	}
	return longest
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// dnsFlowsOf is the running pod of a source ("ns/app") and what its node tracks of the
// pod's UDP flows to port 53.
func (h *Harness) dnsFlowsOf(ctx context.Context, st *scenario.State, row string) (*corev1.Pod, []string, error) {
	i := slices.IndexFunc(st.Deployments, func(d *appsv1.Deployment) bool { return d.Namespace+"/"+d.Name == row })
	if i < 0 {
		return nil, nil, fmt.Errorf("no deployment %s", row)
	}
	d := st.Deployments[i]
	pod, err := h.Kube.RunningPod(ctx, d.Namespace, d.Spec.Template.Labels)
	if err != nil {
		return nil, nil, err
	}
	lines, err := calico.DNSFlows(ctx, h.Kube, pod.Spec.NodeName, kube.PodIPs(pod))
	return pod, lines, err
}

// conntrackEvidence is, for each UDP cell wrong at the end of a step, what its source pod's
// node tracks of that pod's flows to port 53: an entry of a flow opened before a policy
// closed it lets that flow's packets through until it expires. Evidence for the report;
// it decides nothing.
func (h *Harness) conntrackEvidence(ctx context.Context, st *scenario.State, wrong []matrix.Mismatch) []string {
	var out []string
	var seen []string
	for _, m := range wrong {
		if !strings.Contains(m.Col, "/udp") || slices.Contains(seen, m.Row) {
			continue
		}
		seen = append(seen, m.Row)
		pod, lines, err := h.dnsFlowsOf(ctx, st, m.Row)
		if err != nil {
			out = append(out, fmt.Sprintf("conntrack of %s: %v", m.Row, err))
			continue
		}
		out = append(out, fmt.Sprintf("conntrack on %s, UDP flows of %s (%s) to port 53: %d", pod.Spec.NodeName, m.Row, pod.Name, len(lines)))
		for _, l := range lines[:min(len(lines), 20)] {
			out = append(out, "  "+l)
		}
	}
	return out
}
