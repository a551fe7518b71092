package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/star"
)

// FakeCluster is a simulated cluster: it answers `star check` execs from a truth function,
// so the engine can be tested (and demonstrated) without any cluster.
type FakeCluster struct {
	// Truth says what a probe from pod ns/pod to url observes right now.
	Truth func(ns, pod, url string) matrix.Verdict
	// Broken pods fail every exec, as a deleted pod or a missing binary would.
	Broken map[string]bool
	// Slow urls connect only after that long: within the exec's --timeout they are what
	// Truth says, beyond it blocked (a slow leak).
	Slow map[string]time.Duration

	mu    sync.Mutex
	Execs int
	// Streams counts sessions opened (Stream calls).
	Streams int
	// Probed counts targets probed, per url.
	Probed map[string]int
}

// Exec implements Execer.
func (f *FakeCluster) Exec(_ context.Context, ns, pod, _ string, cmd []string) (string, string, error) {
	f.mu.Lock()
	f.Execs++
	if f.Probed == nil {
		f.Probed = map[string]int{}
	}
	f.mu.Unlock()
	if f.Broken[ns+"/"+pod] {
		return "", "container not found", errors.New("command terminated with exit code 126")
	}
	if len(cmd) < 2 || cmd[1] != "check" {
		return "", "usage", errors.New("exit code 2")
	}
	req, err := star.ParseRequest(cmd[2:])
	if err != nil || req.Watch > 0 || req.Hold > 0 {
		return "", fmt.Sprintf("usage: %v", err), errors.New("exit code 2")
	}
	timeout := req.Timeout
	var rs []matrix.Result
	for _, u := range req.Targets {
		f.mu.Lock()
		f.Probed[u]++
		f.mu.Unlock()
		r := matrix.Result{URL: u, Verdict: f.Truth(ns, pod, u), Millis: 1}
		if d, slow := f.Slow[u]; slow {
			r.Millis = d.Milliseconds()
			if d > timeout {
				r.Verdict, r.Millis = matrix.Blocked, timeout.Milliseconds()
			}
		}
		rs = append(rs, r)
	}
	var b bytes.Buffer
	err = star.WriteResults(&b, rs)
	return b.String(), "", err
}

// Stream implements Streamer for probe sessions: it answers each round read on stdin from
// Truth, until stdin closes or ctx ends.
func (f *FakeCluster) Stream(ctx context.Context, ns, pod, _ string, cmd []string, stdin io.Reader, stdout, _ io.Writer) error {
	f.mu.Lock()
	f.Streams++
	if f.Probed == nil {
		f.Probed = map[string]int{}
	}
	f.mu.Unlock()
	if f.Broken[ns+"/"+pod] {
		return errors.New("error: unable to upgrade connection: container not found")
	}
	req, err := star.ParseRequest(cmd[2:])
	if err == nil && !req.Session {
		err = errors.New("not --session")
	}
	if err != nil {
		return fmt.Errorf("fake: only sessions stream: %w", err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	enc := json.NewEncoder(stdout)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			var rr star.RoundRequest
			if err := json.Unmarshal([]byte(line), &rr); err != nil {
				return err
			}
			for _, u := range rr.Targets {
				f.mu.Lock()
				f.Probed[u]++
				f.mu.Unlock()
				if err := enc.Encode(star.RoundAnswer{Round: rr.Round, Result: matrix.Result{URL: u, Verdict: f.Truth(ns, pod, u), Millis: 1}}); err != nil {
					return err
				}
			}
		}
	}
}
