package star

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// RoundRequest is one line a probe session reads on stdin (`star check --session`): a
// round of targets to probe now, with its own timeouts. The harness keeps one session per
// source pod open across rounds, steps and checks, so no round pays an exec's start-up.
type RoundRequest struct {
	Round   int           `json:"round"`
	Timeout time.Duration `json:"timeoutNs"`
	Targets []string      `json:"targets"`
}

// RoundAnswer is one line a session writes: one target's result in a round. A round is
// complete when every target has answered.
type RoundAnswer struct {
	Round int `json:"round"`
	matrix.Result
}

// Session answers round requests read from in until it closes or ctx ends: each round's
// targets are probed concurrently (Check), each result written as it comes back.
func (c Checker) Session(ctx context.Context, in io.Reader, w io.Writer) error {
	enc := json.NewEncoder(w)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		select {
		case <-ctx.Done():
			return nil // the session was ended
		default:
		}
		var req RoundRequest
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return fmt.Errorf("session: bad round request %q: %w", sc.Text(), err)
		}
		if len(req.Targets) == 0 || req.Timeout <= 0 {
			return errors.New("session: a round needs targets and a timeout")
		}
		rc := c
		rc.Timeout = req.Timeout
		for _, r := range rc.Check(ctx, req.Targets) {
			if err := enc.Encode(RoundAnswer{Round: req.Round, Result: r}); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}
