package rollout

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Event is one line of a rollout's timeline.
type Event struct {
	At time.Time `json:"at"`
	// Kind: "calico" (a pod of Calico changed), "harness" (what the harness did),
	// "leak", "down", "other" (deviations), "slow" (a right but slow probe), "stream" (a
	// watch was interrupted).
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// PodLister lists the pods to track (calico-node and calico-kube-controllers).
type PodLister func(ctx context.Context) ([]corev1.Pod, error)

// Tracker polls pods and records when each was first seen, became ready, began
// terminating and was gone. Times are when the poll saw it (every Interval).
type Tracker struct {
	List     PodLister
	Interval time.Duration
	// Observe, when set, gets every poll's pods (e.g. calico.LogFollower.Observe).
	Observe func([]corev1.Pod)

	mu     sync.Mutex
	events []Event
	seen   map[string]*podState
	errs   int
	cancel context.CancelFunc
	done   chan struct{}
}

type podState struct {
	name, node, image  string
	ready, terminating bool
	startAt            time.Time
	goneAt             time.Time // when first seen gone (zero: not gone)
}

// Start begins polling; the first poll's pods are the "before" state, not events.
func (t *Tracker) Start(ctx context.Context) {
	if t.Interval <= 0 {
		t.Interval = 500 * time.Millisecond
	}
	t.seen = map[string]*podState{}
	ctx, t.cancel = context.WithCancel(ctx)
	t.done = make(chan struct{})
	t.poll(ctx, true)
	go func() {
		defer close(t.done)
		tick := time.NewTicker(t.Interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				t.poll(ctx, false)
			}
		}
	}()
}

// Stop ends polling and returns the events in time order; calling it again returns the same.
func (t *Tracker) Stop() []Event {
	t.cancel()
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]Event(nil), t.events...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

func (t *Tracker) poll(ctx context.Context, initial bool) {
	pods, err := t.List(ctx)
	if err == nil && t.Observe != nil {
		t.Observe(pods)
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.errs++
		if t.errs == 1 || t.errs%20 == 0 {
			t.events = append(t.events, Event{At: now, Kind: "harness", Text: fmt.Sprintf("listing calico pods failed (%d times so far): %v", t.errs, err)})
		}
		return
	}
	present := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		uid := string(p.UID)
		present[uid] = true
		st := t.seen[uid]
		if st == nil {
			st = &podState{name: p.Name, node: p.Spec.NodeName, image: imageOf(p)}
			t.seen[uid] = st
			if !initial {
				t.events = append(t.events, Event{At: now, Kind: "calico", Text: fmt.Sprintf("%s created on %s (%s)", p.Name, orPending(st.node), st.image)})
			}
		}
		if st.node == "" && p.Spec.NodeName != "" {
			st.node = p.Spec.NodeName
		}
		ready := podReady(p)
		if ready != st.ready {
			st.ready = ready
			if !initial {
				word := "ready"
				if !ready {
					word = "NOT ready"
				}
				t.events = append(t.events, Event{At: now, Kind: "calico", Text: fmt.Sprintf("%s on %s %s", p.Name, st.node, word)})
			}
		}
		if p.DeletionTimestamp != nil && !st.terminating {
			st.terminating = true
			t.events = append(t.events, Event{At: now, Kind: "calico", Text: fmt.Sprintf("%s on %s terminating (%s)", p.Name, st.node, st.image)})
		}
		if restarts := restartsOf(p); restarts > 0 && !initial {
			if start := lastStart(p); start.After(st.startAt) && !st.startAt.IsZero() {
				t.events = append(t.events, Event{At: now, Kind: "calico", Text: fmt.Sprintf("%s on %s: a container restarted (%d restarts)", p.Name, st.node, restarts)})
			}
		}
		st.startAt = lastStart(p)
	}
	for uid, st := range t.seen {
		if !present[uid] && st.goneAt.IsZero() {
			st.goneAt = now
			t.events = append(t.events, Event{At: now, Kind: "calico", Text: fmt.Sprintf("%s on %s gone", st.name, st.node)})
		}
	}
}

func imageOf(p *corev1.Pod) string {
	var imgs []string
	for _, c := range p.Spec.Containers {
		imgs = append(imgs, c.Image[strings.LastIndex(c.Image, "/")+1:])
	}
	return strings.Join(imgs, ",")
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func restartsOf(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

func lastStart(p *corev1.Pod) time.Time {
	var t time.Time
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running != nil && c.State.Running.StartedAt.After(t) {
			t = c.State.Running.StartedAt.Time
		}
	}
	return t
}

func orPending(node string) string {
	if node == "" {
		return "(unscheduled)"
	}
	return node
}

// Gone says when each pod the tracker saw go was first seen gone, by name.
func (t *Tracker) Gone() map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]time.Time{}
	for _, st := range t.seen {
		if !st.goneAt.IsZero() {
			out[st.name] = st.goneAt
		}
	}
	return out
}

// Timeline merges what happened in a rollout, in order: the calico pods' changes, what the
// harness did, each deviation (where it was seen: the end of its first wrong probe) and
// each interrupted watch.
func Timeline(pods, harness []Event, devs []Deviation, streams []StreamEvent) []Event {
	all := append(append([]Event(nil), pods...), harness...)
	for _, d := range devs {
		if d.Kind == SlowProbe {
			all = append(all, Event{At: d.First, Kind: string(SlowProbe), Text: fmt.Sprintf("%s -> %s: %s", d.Cell.Row, d.Cell.Col, d.Detail)})
			continue
		}
		// Placed when it was seen: the end of its first wrong probe. A probe started
		// earlier may have connected only then (a retransmitted SYN), as the controls'
		// leaks show: probes started before the deletion, answered after it.
		text := fmt.Sprintf("%s -> %s: %s, want %s (%d probes, the first started %s earlier", d.Cell.Row, d.Cell.Col, d.Got, d.Want, d.Count, d.FirstEnd.Sub(d.First).Round(time.Millisecond))
		if !d.Until.IsZero() {
			text += fmt.Sprintf(", right again %s later", d.Until.Sub(d.FirstEnd).Round(time.Millisecond))
		}
		all = append(all, Event{At: d.FirstEnd, Kind: string(d.Kind), Text: text + ")"})
	}
	for _, s := range streams {
		all = append(all, Event{At: s.At, Kind: "stream", Text: fmt.Sprintf("watch from %s interrupted, restarted: %s", s.Source, s.Err)})
	}
	slices.SortStableFunc(all, func(a, b Event) int { return a.At.Compare(b.At) })
	return all
}
