package upgrade

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/scenario"
)

func (ro *rolloutRun) prepare(ctx context.Context, step *scenario.Step) error {
	h := ro.h
	var err error
	if ro.want, err = h.Expected(step, ro.st); err != nil {
		return err
	}
	if len(ro.spec.Inject) > 0 {
		if ro.inj, err = newInjection(h, ro.st, ro.spec.Inject); err != nil {
			return err
		}
		if ro.spec.ControlsAfter > 0 {
			ro.inj.after = ro.spec.ControlsAfter
		}
	}
	if ro.spec.LosesAdmin {
		if ro.loss, err = newAdminLoss(h, ro.st); err != nil {
			return err
		}
	}
	if ro.plan, err = h.Plan(ctx, ro.st); err != nil {
		return err
	}
	if ro.before, err = calico.Versions(ctx, h.Kube, ro.spec.From); err != nil {
		return fmt.Errorf("before the rollout: %w", err)
	}
	// Calico's health up to now: pods neither restarted nor unready since the last mark.
	problems, tolerated, err := h.CalicoProblems(ctx)
	ro.toleratedBefore = tolerated
	if err == nil && len(problems) > 0 {
		err = errors.New(strings.Join(problems, "\n"))
	}
	if err != nil {
		return fmt.Errorf("calico unhealthy before the rollout: %w", err)
	}
	ro.healthFrom = time.Now()
	// From here every calico pod's log is followed, the replaced ones to their end.
	ro.logs = calico.NewLogFollower(h.Kube.Clientset(), ro.healthFrom)
	ro.logs.Start(ctx)
	return nil
}
