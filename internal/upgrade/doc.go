// Package upgrade is the rollout check: it rolls Calico (a new release's manifest, or a
// restart in place) while the workshop's end state is probed from every source every few
// hundred milliseconds and connections are held open on every allowed app cell, then
// judges everything seen. One file per phase: prepare (what must hold, the controls'
// predictions, Calico before), traffic (probes and held connections, seen right before
// Calico is touched), roll (the apply, the controls, the wait), judge (leaks, gaps, holes,
// disruptions, Calico's health) and the controls that prove it can fail (injection: a
// policy deleted mid-rollout; hold: a server restarted; loss: the admin layer dropped).
// It builds on internal/harness (planning, applying, Calico's health mark) and on
// internal/rollout (the continuous probes, held connections and their analysis).
package upgrade
