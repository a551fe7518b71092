// Package rollout watches a cluster's connectivity while something underneath it changes
// (a Calico upgrade): it streams `star check --watch` from every source, collects every
// observation with its time, tracks the calico pods' restarts, and judges the whole
// stream against the expected matrix: leaks (denied observed allowed), down time of
// allowed cells, holes in the coverage. It never fails a test itself; e2e does.
package rollout
