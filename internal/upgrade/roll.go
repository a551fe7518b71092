package upgrade

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/rollout"
)

// roll applies B's manifest (or restarts calico-node), runs the controls beside it, waits
// until every calico pod is updated and ready, checks their versions, and keeps the
// traffic going for the tail.
func (ro *rolloutRun) roll(ctx context.Context) error {
	h, spec := ro.h, ro.spec
	ro.tracker = &rollout.Tracker{List: func(ctx context.Context) ([]corev1.Pod, error) { return calico.Pods(ctx, h.Kube.Clientset()) }, Observe: ro.logs.Observe}
	ro.tracker.Start(ctx)
	ro.applied = time.Now()
	if ro.loss != nil {
		ro.loss.applied = ro.applied
	}
	var err error
	if spec.Manifest != nil {
		err = h.Kube.Apply(ctx, spec.Manifest...)
		ro.note(ro.applied, "applied the Calico %s manifest (%d objects)", spec.To, len(spec.Manifest))
	} else {
		err = calico.RestartNode(ctx, h.Kube.Clientset())
		ro.note(ro.applied, "restarted calico-node in place (rolling, %s)", spec.To)
	}
	if err != nil {
		return fmt.Errorf("roll calico to %s: %w", spec.To, err)
	}
	controls := runAll(
		func() error { return ro.ctl.runIf(ctx, h, ro.plan, ro.st, ro.applied) },
		func() error { return ro.inj.runIf(ctx, h, ro.sess, ro.applied) },
	)
	rollErr := calico.WaitRolledOut(ctx, h.Kube, spec.Timeout)
	ro.rolledOut = time.Now()
	ro.note(ro.rolledOut, "rollout complete: every calico pod updated and ready")
	if rollErr == nil {
		ro.versions, rollErr = calico.Versions(ctx, h.Kube, spec.To)
	}
	if rollErr != nil {
		ro.errs = append(ro.errs, rollErr.Error())
	}
	for _, err := range controls() {
		if err != nil {
			ro.errs = append(ro.errs, "control: "+err.Error())
		}
	}
	if ro.inj != nil && !ro.inj.deleted.IsZero() {
		ro.note(ro.inj.deleted, "control: deleted %s", ro.inj.name())
		if !ro.inj.restored.IsZero() {
			ro.note(ro.inj.restored, "control: restored %s", ro.inj.name())
		}
	}
	if ro.ctl != nil && !ro.ctl.at.IsZero() {
		ro.note(ro.ctl.at, "connection control: restarted the server of %s", ro.ctl.col)
	}
	// Keep the traffic going a little: a dataplane that breaks once the last pod is ready counts.
	harness.Sleep(ctx, spec.Tail)
	return nil
}
