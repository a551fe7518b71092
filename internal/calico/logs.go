package calico

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// LogFollower reads the logs of every calico pod that lives while it runs, replaced ones
// included: it follows each pod's container from when it is first seen running until the
// stream ends (the container exited, its last lines read), follows it again if it
// restarts, and keeps the error-level lines. Reading only the pods present at the end
// would miss everything a replaced pod said before it was deleted. It lists nothing
// itself: Observe is handed the pods of every poll (the rollout's pod tracker's).
type LogFollower struct {
	// Stream follows one container's log from since.
	Stream func(ctx context.Context, pod, container string, since time.Time) (io.ReadCloser, error)
	// Since is where every log is read from.
	Since time.Time

	mu       sync.Mutex
	ctx      context.Context
	lines    []LogLine
	errs     []error
	pods     map[string]*followed // by pod UID
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopped  bool
	readPods []string
}

// followed is one pod's follow state.
type followed struct {
	name, container string
	streaming       bool
	id              string    // the container (ID) its current or last stream read
	last            time.Time // the timestamp of the last line read
}

// NewLogFollower follows the calico pods of a cluster from since.
func NewLogFollower(c kubernetes.Interface, since time.Time) *LogFollower {
	return &LogFollower{
		Stream: func(ctx context.Context, pod, container string, since time.Time) (io.ReadCloser, error) {
			opts := &corev1.PodLogOptions{Container: container, Timestamps: true, Follow: true, SinceTime: &metav1.Time{Time: since}}
			return c.CoreV1().Pods(Namespace).GetLogs(pod, opts).Stream(ctx)
		},
		Since: since,
	}
}

// Start makes the follower ready: streams live until Stop.
func (f *LogFollower) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctx, f.cancel = context.WithCancel(ctx)
	f.pods = map[string]*followed{}
}

// Stop ends following and returns the error lines read, the pods whose logs were read
// ("name" each, in the order first read) and what went wrong reading them.
func (f *LogFollower) Stop() (lines []LogLine, pods []string, errs []error) {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]LogLine(nil), f.lines...), append([]string(nil), f.readPods...), append([]error(nil), f.errs...)
}

// Observe starts following the containers of pods that it has not read yet (new pods,
// restarted containers, and streams that ended while the container still runs).
func (f *LogFollower) Observe(pods []corev1.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped || f.ctx == nil {
		return
	}
	for i := range pods {
		p := &pods[i]
		fp := f.pods[string(p.UID)]
		if fp == nil {
			fp = &followed{name: p.Name, container: containerOf[p.Labels["k8s-app"]], last: f.Since}
			f.pods[string(p.UID)] = fp
		}
		id, running := container(p, fp.container)
		// Follow a container that started, again after a restart (a new ID), and again
		// when a stream ended while the container still runs (the connection dropped).
		if fp.streaming || id == "" || id == fp.id && !running {
			continue
		}
		fp.streaming, fp.id = true, id
		if !slices.Contains(f.readPods, p.Name) {
			f.readPods = append(f.readPods, p.Name)
		}
		ctx := f.ctx
		f.wg.Go(func() { f.follow(ctx, fp) })
	}
}

// follow reads one container's log to its end (or Stop).
func (f *LogFollower) follow(ctx context.Context, fp *followed) {
	f.mu.Lock()
	since := fp.last
	f.mu.Unlock()
	rc, err := f.Stream(ctx, fp.name, fp.container, since)
	if err != nil {
		f.mu.Lock()
		fp.streaming, fp.id = false, "" // tried again at the next poll
		f.mu.Unlock()
		return
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		ts, _, ok := cutTimestamp(sc.Text())
		if ok && since != f.Since && !ts.After(since) {
			continue // read before the stream was resumed (SinceTime has whole seconds)
		}
		found := ScanErrors(fp.name, fp.container, sc.Text())
		f.mu.Lock()
		f.lines = append(f.lines, found...)
		if ts.After(fp.last) {
			fp.last = ts
		}
		f.mu.Unlock()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fp.streaming = false
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		f.errs = append(f.errs, fmt.Errorf("log of %s/%s: %w", fp.name, fp.container, err))
	}
}

// container is the ID of a pod's container once it started (its log can be read) and
// whether it is running now.
func container(p *corev1.Pod, name string) (id string, running bool) {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == name && (cs.State.Running != nil || cs.State.Terminated != nil) {
			return cs.ContainerID, cs.State.Running != nil
		}
	}
	return "", false
}

// cutTimestamp splits a log line read with timestamps into its time and text.
func cutTimestamp(line string) (time.Time, string, bool) {
	ts, text, _ := strings.Cut(line, " ")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, line, false
	}
	return at, text, true
}
