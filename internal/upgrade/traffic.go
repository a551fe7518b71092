package upgrade

import (
	"context"
	"fmt"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/rollout"
	"github.com/netpol-e2e/harness/internal/star"
)

func (ro *rolloutRun) startTraffic(ctx context.Context) error {
	h, spec := ro.h, ro.spec
	// DNS cells on the same clock as the others: a lookup not answered within the
	// rollout's probe timeout is down, as a connection not made by then is.
	w := &rollout.Watcher{Stream: h.Kube, Binary: star.Binary, Interval: spec.Interval, Timeout: spec.ProbeTimeout, DNSTimeout: spec.ProbeTimeout}
	var err error
	if ro.sess, err = w.Start(ctx, ro.plan, ro.want.ProbedCells()); err != nil {
		return err
	}
	// Baseline: every cell observed at least twice before Calico is touched.
	if ro.from, err = baseline(ctx, ro.sess, ro.want, time.Minute); err != nil {
		return err
	}
	if spec.Hold.Interval <= 0 {
		return nil
	}
	held, err := HeldCells(ro.st, h.Scenario, ro.want)
	if err != nil {
		return err
	}
	if spec.Hold.RestartServer != "" {
		if ro.ctl, err = newServerRestart(spec.Hold.RestartServer, held); err != nil {
			return err
		}
		if spec.ControlsAfter > 0 {
			ro.ctl.after = 2 * spec.ControlsAfter
		}
	}
	ro.hs, err = startHolds(ctx, h, spec.Hold, ro.plan, held, time.Minute)
	return err
}

// baseline waits until every cell was observed twice, all as expected, and returns when
// every cell had first been observed (the start of the judged window).
func baseline(ctx context.Context, sess *rollout.Session, want *matrix.Matrix, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	cells := want.ProbedCells()
	for {
		obs := sess.Observations()
		count := map[matrix.Cell]int{}
		first := map[matrix.Cell]time.Time{}
		var wrong []string
		for _, o := range obs {
			count[o.Cell]++
			if _, ok := first[o.Cell]; !ok {
				first[o.Cell] = o.At
			}
			if v, _ := want.Get(o.Row, o.Col); v != o.Verdict {
				wrong = append(wrong, fmt.Sprintf("%s: %s, want %s (%s)", cellName(o.Cell), o.Verdict, v, o.Detail))
			}
		}
		if len(wrong) > 0 {
			return time.Time{}, fmt.Errorf("before touching Calico the end state is not as expected (%d wrong probes), first: %s", len(wrong), wrong[0])
		}
		var from time.Time
		missing := 0
		for _, c := range cells {
			if count[c] < 2 {
				missing++
			}
			if first[c].After(from) {
				from = first[c]
			}
		}
		if missing == 0 {
			return from, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("continuous probes did not cover the matrix within %s: %d of %d cells seen less than twice", timeout, missing, len(cells))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
