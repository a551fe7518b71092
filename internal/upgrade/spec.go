package upgrade

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Spec is one Calico rollout to watch.
type Spec struct {
	Name     string
	From, To string // version strings; every calico-node must say To afterwards
	// Note says what From and To are (offline: two builds of one source).
	Note string
	// Manifest is applied to roll Calico; nil restarts calico-node in place.
	Manifest []*unstructured.Unstructured
	// Interval is how often every source probes every target.
	Interval time.Duration
	// ProbeTimeout is the watch's connect timeout: an allowed cell not connected by then
	// is down. Right probes slower than the suite's probe timeout are counted as slow.
	ProbeTimeout time.Duration
	// GapBudget is how long an allowed cell may be seen down (0: never).
	GapBudget time.Duration
	// HoleBudget is the longest a cell may go without a probe starting (probes run on a
	// fixed schedule, overlapping, so this is about Interval on a healthy machine).
	HoleBudget time.Duration
	// Tail is how long probing goes on after the rollout is complete.
	Tail time.Duration
	// Timeout bounds the rollout.
	Timeout time.Duration
	// Inject, for the negative control, are policies ("namespace/name") of the end state
	// deleted during the rollout and restored once their leak was seen.
	Inject []string
	// LosesAdmin says the new Calico enforces none of the admin policies the cluster holds
	// (loss.go): the cells their loss changes must change, and stay so.
	LosesAdmin bool
	// Hold keeps a connection open on every allowed app cell through the rollout
	// (Interval 0: none).
	Hold HoldSpec
	// ControlsAfter is how long after the apply the policy-deletion control acts (0: 5 s,
	// when the rollout is under way), the server restart at twice that (0: 8 s).
	ControlsAfter time.Duration
}
