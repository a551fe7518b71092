package star

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// Watch is `star check --watch`: it probes every target over and over, each on its own
// clock (a probe starts every interval, or right after the previous one when that took
// longer, as a blocked target does), and prints one JSON line per probe with its start
// time, until ctx ends. It is what the upgrade check streams from every source while
// Calico rolls.
//
// Names of http and tcp targets are resolved once, at the start (retried until they
// resolve, each failure printed as a dns-failure line): during a rollout the question is
// whether the dataplane keeps enforcing, and the dns+ targets keep querying the cluster
// DNS on every tick.
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
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	var werr error
	emit := func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		if werr == nil {
			werr = enc.Encode(r)
		}
	}
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() { c.watchOne(ctx, t, interval, emit) })
	}
	wg.Wait()
	return werr
}

func (c Checker) watchOne(ctx context.Context, target string, interval time.Duration, emit func(Result)) {
	u, err := url.Parse(target)
	connectable := err == nil && (u.Scheme == "http" || u.Scheme == "tcp")
	addr := ""
	for next := time.Now(); ctx.Err() == nil; next = next.Add(interval) {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		} else {
			next = time.Now()
		}
		start := time.Now()
		var v matrix.Verdict
		var detail string
		switch {
		case connectable && addr == "":
			if addr, v, detail = c.resolve(ctx, u.Host); addr != "" {
				v, detail = c.connect(ctx, u, addr)
			}
		case connectable:
			v, detail = c.connect(ctx, u, addr)
		default:
			v, detail = c.checkOne(ctx, target)
		}
		if ctx.Err() != nil {
			return // cut short by the end of the watch: not an observation
		}
		emit(Result{Target: target, Verdict: v, Millis: time.Since(start).Milliseconds(), Detail: detail, At: start.UnixMilli()})
	}
}
