package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/star"
)

// Streamer runs a command in a pod, feeding stdin and streaming its output until the
// command or ctx ends (kube.Client on a cluster, fakes in tests).
type Streamer interface {
	Stream(ctx context.Context, ns, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// sessions keeps one `star check --session` open per source pod, across rounds, steps and
// checks: a round is a line on its stdin, its answers lines on its stdout, and no round
// pays an exec's start-up (about 0.5 s of CPU here). A replaced pod gets a new session; a
// session that ends is an error naming the pod, never a verdict, and the next round opens
// a new one.
type sessions struct {
	stream Streamer
	argv   []string

	mu     sync.Mutex
	open   map[string]*session // by "namespace/pod"
	nextID int
	ctx    context.Context // sessions outlive any one round's context
	cancel context.CancelFunc
}

type session struct {
	pod   string
	stdin *io.PipeWriter

	mu      sync.Mutex
	waiting map[int]chan star.RoundAnswer
	ended   chan struct{}
	err     error // why it ended
}

func newSessions(stream Streamer, argv []string) *sessions {
	ctx, cancel := context.WithCancel(context.Background())
	return &sessions{stream: stream, argv: argv, open: map[string]*session{}, ctx: ctx, cancel: cancel}
}

// get returns the pod's live session, opening one if there is none.
func (ss *sessions) get(src Source) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	key := src.Namespace + "/" + src.Pod
	if s := ss.open[key]; s != nil {
		select {
		case <-s.ended:
		default:
			return s
		}
	}
	pr, pw := io.Pipe()
	s := &session{pod: key, stdin: pw, waiting: map[int]chan star.RoundAnswer{}, ended: make(chan struct{})}
	ss.open[key] = s
	go func() {
		var stderr strings.Builder
		out := &LineWriter{Line: s.deliver}
		err := ss.stream.Stream(ss.ctx, src.Namespace, src.Pod, src.Container, ss.argv, pr, out, &stderr)
		if err == nil {
			err = errors.New("the session ended")
		}
		if e := strings.TrimSpace(stderr.String()); e != "" {
			err = fmt.Errorf("%w: %s", err, e)
		}
		_ = pw.Close() // ends client-go's stdin copy with EOF, not an error it would log
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.ended)
	}()
	return s
}

func (s *session) deliver(line string) {
	var a star.RoundAnswer
	if json.Unmarshal([]byte(line), &a) != nil {
		return // not an answer (the harness only reads answers)
	}
	s.mu.Lock()
	ch := s.waiting[a.Round]
	s.mu.Unlock()
	if ch != nil {
		ch <- a
	}
}

// round asks the session for one round and waits for every target's answer, at most wait.
func (ss *sessions) round(ctx context.Context, src Source, timeout, wait time.Duration, urls []string) (map[string]matrix.Result, error) {
	s := ss.get(src)
	ss.mu.Lock()
	ss.nextID++
	id := ss.nextID
	ss.mu.Unlock()
	ch := make(chan star.RoundAnswer, len(urls))
	s.mu.Lock()
	s.waiting[id] = ch
	s.mu.Unlock()
	defer func() { s.mu.Lock(); delete(s.waiting, id); s.mu.Unlock() }()
	line, err := json.Marshal(star.RoundRequest{Round: id, Timeout: timeout, Targets: urls})
	if err != nil {
		return nil, err
	}
	// Written from a goroutine: a session that is still starting reads it when ready.
	go func() { _, _ = s.stdin.Write(append(line, '\n')) }()
	out := map[string]matrix.Result{}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for len(out) < len(urls) {
		select {
		case a := <-ch:
			out[a.URL] = a.Result
		case <-s.ended:
			s.mu.Lock()
			err := s.err
			s.mu.Unlock()
			return nil, fmt.Errorf("probe session to pod %s ended: %w", s.pod, err)
		case <-deadline.C:
			_ = s.stdin.Close()
			return nil, fmt.Errorf("probe session to pod %s answered %d of %d targets within %s: closed", s.pod, len(out), len(urls), wait)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// close ends every session (closing stdin ends star's session) and waits for them to end,
// at most 5 s; then the context ends whatever is left.
func (ss *sessions) close() {
	ss.mu.Lock()
	open := ss.open
	ss.open = map[string]*session{}
	ss.mu.Unlock()
	for _, s := range open {
		_ = s.stdin.Close()
	}
	deadline := time.After(5 * time.Second)
	for _, s := range open {
		select {
		case <-s.ended:
		case <-deadline:
		}
	}
	ss.cancel()
}

// LineWriter calls Line for every complete line written to it (output streamed from a
// pod arrives in pieces); Flush passes on a last line without its newline.
type LineWriter struct {
	Line func(string)
	buf  []byte
}

func (l *LineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		l.Line(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

// Flush passes on what is left.
func (l *LineWriter) Flush() {
	if len(l.buf) > 0 {
		l.Line(string(l.buf))
		l.buf = nil
	}
}
