package star

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// Watch is `star check --watch`: it probes every target on a fixed schedule, one probe
// starting every interval whether or not the previous one has finished (a blocked
// target's probe waits out its timeout; the next one does not wait for it), so no target
// goes unprobed much longer than interval. It prints one JSON line per probe with its
// start time. When ctx ends no new probe starts, and the probes under way finish (each is
// bounded by its own timeouts) and are printed before Watch returns, so every probe
// started before the end is reported. It is what the upgrade check streams from every
// source while Calico rolls.
//
// Names of http and tcp targets are resolved once, at the start (retried every interval
// until they resolve, each failure printed as a dns-failure line): during a rollout the
// question is whether the dataplane keeps enforcing, and the dns+ targets keep querying
// the cluster DNS on every tick.
func (c Checker) Watch(ctx context.Context, targets []string, interval time.Duration, w io.Writer) error {
	if len(targets) == 0 {
		return errors.New("check needs at least one target")
	}
	if interval <= 0 {
		return errors.New("--watch needs an interval > 0")
	}
	if c.DNSTimeout <= 0 {
		c.DNSTimeout = DefaultDNSTimeout
	}
	return perTarget(targets, w, func(t string, emit func(any)) {
		c.watchOne(ctx, t, interval, func(r matrix.Result) { emit(r) })
	})
}

// perTarget runs fn for every target at once, each writing JSON lines through emit (one
// line at a time), and returns the first write error once all have returned.
func perTarget(targets []string, w io.Writer, fn func(target string, emit func(any))) error {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	var werr error
	emit := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		if werr == nil {
			werr = enc.Encode(v)
		}
	}
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() { fn(t, emit) })
	}
	wg.Wait()
	return werr
}

func (c Checker) watchOne(ctx context.Context, target string, interval time.Duration, emit func(matrix.Result)) {
	u, family, err := parseTarget(target)
	connectable := err == nil && (u.Scheme == "http" || u.Scheme == "tcp")
	// Probes under way finish after the watch ends: their own timeouts bound them.
	probeCtx := context.WithoutCancel(ctx)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	addr := ""
	for {
		start := time.Now()
		if connectable && addr == "" {
			// The address is needed before the schedule starts: resolve in line.
			var v matrix.Verdict
			var detail string
			if addr, v, detail = c.resolve(ctx, u.Host, family); addr == "" {
				if ctx.Err() != nil {
					return // cut short by the end of the watch: not an observation
				}
				emit(matrix.Result{URL: target, Verdict: v, Millis: time.Since(start).Milliseconds(), Detail: detail, At: start})
			}
		} else {
			inflight.Go(func() {
				var v matrix.Verdict
				var detail string
				if connectable {
					v, detail = c.connect(probeCtx, u, addr)
				} else {
					v, detail = c.checkOne(probeCtx, target)
				}
				emit(matrix.Result{URL: target, Verdict: v, Millis: time.Since(start).Milliseconds(), Detail: detail, At: start})
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
