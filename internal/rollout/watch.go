package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/star"
)

// Streamer runs a command in a pod, streaming (probe.Streamer).
type Streamer = probe.Streamer

// StreamEvent is a source's watch ending while the session was live (and restarted).
type StreamEvent struct {
	At     time.Time
	Source string
	Err    string
}

// Watcher streams continuous probes from every source of a plan.
type Watcher struct {
	Stream Streamer
	// Binary is star's path in the image.
	Binary string
	// Interval is how often each source probes each of its targets.
	Interval time.Duration
	// Timeout and DNSTimeout are star check's, as in the rounds.
	Timeout, DNSTimeout time.Duration
	// Max bounds a watch inside the pod, should the harness vanish without closing it.
	Max time.Duration
}

// streams keeps one command streaming per source until stopped, restarting a stream that
// ends early and recording that as an interruption (shared by Session and HoldSession).
type streams struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	events  []StreamEvent
	stopped bool
	stdins  []*io.PipeWriter
}

// Session is a running watch.
type Session struct {
	streams
	obs []matrix.Result
}

// Command is what runs in a source pod.
func (w *Watcher) Command(urls []string) []string {
	return star.Request{Timeout: w.Timeout, DNSTimeout: w.DNSTimeout, Watch: w.Interval, Max: w.Max, StdinStop: true, Targets: urls}.Argv(w.Binary)
}

// Start begins watching cells (rows are plan sources, columns plan targets): one stream
// per source, restarted should it end before Stop.
func (w *Watcher) Start(ctx context.Context, p probe.Plan, cells []matrix.Cell) (*Session, error) {
	urlOf := map[string]string{}
	for _, t := range p.Targets {
		urlOf[t.ID] = t.URL
	}
	byRow := map[string][]string{}
	for _, c := range cells {
		if urlOf[c.Col] == "" {
			return nil, fmt.Errorf("cell %s -> %s: no such target in the plan", c.Row, c.Col)
		}
		byRow[c.Row] = append(byRow[c.Row], c.Col)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Session{streams: streams{cancel: cancel}}
	for _, src := range p.Sources {
		urls, colOf := sourceURLs(byRow[src.ID], urlOf)
		if len(urls) == 0 {
			continue
		}
		s.wg.Go(func() { s.run(ctx, w.Stream, src, w.Command(urls), func(line string) { s.add(src.ID, colOf, line) }) })
	}
	return s, nil
}

// sourceURLs lists one source's target URLs and maps each back to its column.
func sourceURLs(cols []string, urlOf map[string]string) ([]string, map[string]string) {
	colOf := map[string]string{}
	var urls []string
	for _, c := range cols {
		colOf[urlOf[c]] = c
		urls = append(urls, urlOf[c])
	}
	return urls, colOf
}

// run keeps one source's command streaming until stop, each output line to line.
func (s *streams) run(ctx context.Context, st Streamer, src probe.Source, cmd []string, line func(string)) {
	for ctx.Err() == nil {
		pr, pw := io.Pipe()
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		s.stdins = append(s.stdins, pw)
		s.mu.Unlock()
		out := &probe.LineWriter{Line: line}
		var stderr strings.Builder
		err := st.Stream(ctx, src.Namespace, src.Pod, src.Container, cmd, pr, out, &stderr)
		out.Flush()
		s.mu.Lock()
		live := !s.stopped
		s.mu.Unlock()
		if !live || ctx.Err() != nil {
			return
		}
		msg := "stream ended"
		if err != nil {
			msg = err.Error()
		}
		if e := strings.TrimSpace(stderr.String()); e != "" {
			msg += ": " + e
		}
		s.mu.Lock()
		s.events = append(s.events, StreamEvent{At: time.Now(), Source: src.ID, Err: msg})
		s.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (s *Session) add(source string, colOf map[string]string, line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	var o matrix.Result
	if err := json.Unmarshal([]byte(line), &o); err != nil || colOf[o.URL] == "" {
		s.mu.Lock()
		s.events = append(s.events, StreamEvent{At: time.Now(), Source: source, Err: fmt.Sprintf("unreadable watch line %q", line)})
		s.mu.Unlock()
		return
	}
	o.Cell = matrix.Cell{Row: source, Col: colOf[o.URL]}
	if o.At.IsZero() {
		o.At = time.Now()
	}
	s.mu.Lock()
	s.obs = append(s.obs, o)
	s.mu.Unlock()
}

// Observations returns a copy of what was observed so far.
func (s *Session) Observations() []matrix.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]matrix.Result(nil), s.obs...)
}

// Stop ends every stream (closing its stdin ends star's watch; the context is the
// backstop) and returns the observations and the streams' interruptions. Calling it
// again returns the same.
func (s *Session) Stop() ([]matrix.Result, []StreamEvent) {
	events := s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]matrix.Result(nil), s.obs...), events
}

// stop closes every stream's stdin, waits for the streams to end (at most 10 s, then
// cancels them) and returns their interruptions.
func (s *streams) stop() []StreamEvent {
	s.mu.Lock()
	s.stopped = true
	for _, pw := range s.stdins {
		_ = pw.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cancel()
		<-done
	}
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]StreamEvent(nil), s.events...)
}
