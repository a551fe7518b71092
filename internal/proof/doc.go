// Package proof is the check that runs before the workshop: two pods on two workers, a
// reaching b by pod IP and by service name (and, on a dual-stack cluster, over IPv6 and the
// external host by its IPv6 address); a default-deny ingress turns b's cells into timeouts
// and leaves the external host reachable; deleting it restores them. A cluster whose
// dataplane does not enforce across nodes fails here, before any workshop step.
package proof
