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

// MaxUDPSettle bounds settleUDP on the nodes' conntrack: a flow tracked again after a flush
// means the policy was not in force yet (its enforcement takes well under a second here).
const MaxUDPSettle = time.Minute

// settleUDP isolates the policy from the dataplane's state when a change denies UDP flows
// that were allowed, and returns when judging may start. Calico, like any stateful filter,
// passes the packets of flows conntrack tracks: a lookup whose random source port matches a
// tracked flow of its pod to port 53 is answered. Measured here (nftables,
// measurements-2026-12-03): a DNS flow whose port a later lookup reused is a stream tracked
// 120 s after its last packet and refreshed by every lookup it answers; the closed DNS kept
// answering some lookups 83 s on, and waiting until payments' node tracked none of its
// flows took 2 to 3.5 min (its own star prober resolves names every 2 s). So, with the
// nodes' conntrack (iptables, nftables), it records what the source pods' nodes track of
// their flows to port 53, deletes those entries (conntrack -D), again while new ones
// appear (the policy not in force yet), and starts judging once two reads a second apart
// show none: from then on an answered lookup is the policy's. In eBPF mode, whose conntrack
// is Felix's own, it waits that conntrack's UDP timeout. A conntrack it cannot read or
// flush is an error: judging without knowing could call the dataplane's state a leak.
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
		rs.UDPSettles = append(rs.UDPSettles, &report.UDPSettle{Waited: wait, Timeout: h.Cfg.ConntrackUDPTimeout})
		Sleep(ctx, time.Until(applied.Add(wait)))
		return time.Now(), nil
	}
	pods := map[string]*corev1.Pod{}
	for _, row := range rows {
		pod, err := h.sourcePod(ctx, st, row)
		if err != nil {
			return time.Time{}, fmt.Errorf("the change denies UDP flows that were allowed, and %s's pod is not found: %w", row, err)
		}
		pods[row] = pod
	}
	var first []string // the conntrack lines of the first read: what the change found
	flushes, clean := 0, 0
	for {
		var tracked, raw []string
		for _, row := range rows {
			pod := pods[row]
			lines, err := calico.DNSFlows(ctx, h.Kube, pod.Spec.NodeName, kube.PodIPs(pod))
			if err != nil {
				return time.Time{}, fmt.Errorf("the change denies UDP flows that were allowed, and what %s's node tracks of them cannot be read: %w", row, err)
			}
			raw = append(raw, lines...)
			for _, l := range lines {
				tracked = append(tracked, fmt.Sprintf("%s (%s on %s): %s", row, pod.Name, pod.Spec.NodeName, l))
			}
			if len(lines) > 0 {
				if err := calico.FlushDNSFlows(ctx, h.Kube, pod.Spec.NodeName, kube.PodIPs(pod)); err != nil {
					return time.Time{}, fmt.Errorf("the change denies UDP flows that were allowed, and those of %s cannot be flushed: %w", row, err)
				}
				flushes++
			}
		}
		if first == nil {
			first = append([]string{}, raw...)
		}
		clean++
		if len(tracked) > 0 {
			clean = 0
		}
		switch {
		case clean == 2:
			rs.UDPSettles = append(rs.UDPSettles, &report.UDPSettle{Sources: rows, Flows: len(first), Longest: longestTracked(first), Flushes: flushes, From: time.Since(applied)})
			return time.Now(), nil
		case ctx.Err() != nil:
			return time.Time{}, ctx.Err()
		case time.Since(applied) > MaxUDPSettle:
			rs.UDPSettles = append(rs.UDPSettles, &report.UDPSettle{Sources: rows, Flows: len(first), Longest: longestTracked(first), Flushes: flushes, From: time.Since(applied), StillTracked: tracked[:min(len(tracked), 10)]})
			return time.Now(), nil
		}
		Sleep(ctx, time.Second)
	}
}

// longestTracked is the longest remaining timeout among conntrack lines ("udp 17 SECS ...").
func longestTracked(lines []string) time.Duration {
	var longest time.Duration
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 2 {
			if s, err := strconv.Atoi(f[2]); err == nil {
				longest = max(longest, time.Duration(s)*time.Second)
			}
		}
	}
	return longest
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// sourcePod is the running pod of a source ("ns/app").
func (h *Harness) sourcePod(ctx context.Context, st *scenario.State, row string) (*corev1.Pod, error) {
	i := slices.IndexFunc(st.Deployments, func(d *appsv1.Deployment) bool { return d.Namespace+"/"+d.Name == row })
	if i < 0 {
		return nil, fmt.Errorf("no deployment %s", row)
	}
	d := st.Deployments[i]
	return h.Kube.RunningPod(ctx, d.Namespace, d.Spec.Template.Labels)
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
		pod, err := h.sourcePod(ctx, st, m.Row)
		var lines []string
		if err == nil {
			lines, err = calico.DNSFlows(ctx, h.Kube, pod.Spec.NodeName, kube.PodIPs(pod))
		}
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
