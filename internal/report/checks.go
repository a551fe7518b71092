package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/browser"
	"github.com/netpol-e2e/harness/internal/matrix"
)

// Proof is the cross-node proof: where its two pods ran, and each phase's verdict.
type Proof struct {
	A Placement `json:"a"`
	B Placement `json:"b"`
	// Dual: b was also probed over IPv6 (pod IP, ClusterIP, name) and the external host
	// by its IPv6 address.
	Dual   bool         `json:"dual"`
	Phases []ProofPhase `json:"phases"`
}

// Placement is a pod's address and node.
type Placement struct {
	IP   string `json:"ip"`
	Node string `json:"node"`
}

// ProofPhase is one phase of the proof: a's verdict to b by each way (Targets), the
// external host's columns allowed throughout, and when the phase's matrix showed.
type ProofPhase struct {
	Name     string         `json:"name"`
	Want     matrix.Verdict `json:"want"`
	Targets  []string       `json:"targets"`
	External []string       `json:"external,omitempty"`
	After    time.Duration  `json:"afterNs"`
}

func (p *Proof) lines() []string {
	out := []string{fmt.Sprintf("a (%s) on %s, b (%s) on %s", p.A.IP, p.A.Node, p.B.IP, p.B.Node)}
	if p.Dual {
		out = append(out, "dual-stack: b also by its IPv6 pod IP, its IPv6 ClusterIP and by name with an AAAA lookup; the external host by its IPv6 address (allowed throughout: the policy is b's ingress)")
	}
	for _, ph := range p.Phases {
		l := fmt.Sprintf("%s: %s by %s", ph.Name, ph.Want, strings.Join(ph.Targets, ", "))
		if len(ph.External) > 0 {
			l += fmt.Sprintf("; %s allowed", strings.Join(ph.External, ", "))
		}
		out = append(out, l+" after "+ms(ph.After))
	}
	return out
}

// Churn is the policy-churn check: a policy applied and deleted Changes times, Gap
// apart over Span, while a's allowed egress was probed (Probes per column, Total in all).
type Churn struct {
	Policy  string        `json:"policy"`
	Changes int           `json:"changes"`
	Gap     time.Duration `json:"gapNs"`
	Span    time.Duration `json:"spanNs"`
	Probes  []CellProbes  `json:"probes"`
	Total   int           `json:"total"`
}

// CellProbes counts the probes of one column.
type CellProbes struct {
	Col string `json:"col"`
	N   int    `json:"n"`
}

func (c *Churn) lines() []string {
	counts := make([]string, len(c.Probes))
	for i, p := range c.Probes {
		counts[i] = fmt.Sprintf("%s %d", p.Col, p.N)
	}
	return []string{fmt.Sprintf("%d changes of %s (apply, delete, ...) %s apart over %s; probes of a's allowed egress during them: %s; %d probes in all",
		c.Changes, c.Policy, c.Gap, ms(c.Span), strings.Join(counts, ", "), c.Total)}
}

// UI is the management UI's check in a browser: the page it last drew, the arrows the
// observed matrix implies, and whether the page drew exactly those between all its apps.
type UI struct {
	URL      string         `json:"url"`
	Browser  string         `json:"browser"`
	Page     browser.Page   `json:"page"`
	Expected []browser.Edge `json:"expected"`
	Apps     int            `json:"apps"`
	Matched  bool           `json:"matched"`
}

func (u *UI) lines() []string {
	out := []string{
		fmt.Sprintf("%s in %s: %s", u.URL, u.Browser, u.Page.Describe()),
		fmt.Sprintf("arrows the observed matrix implies (%d): %s", len(u.Expected), browser.EdgeList(u.Expected)),
	}
	if u.Matched {
		out = append(out, fmt.Sprintf("the page drew exactly the %d arrows of the observed matrix between its %d apps, every app answering", len(u.Expected), u.Apps))
	}
	return out
}
