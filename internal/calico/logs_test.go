package calico

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fakeLogs is a cluster whose calico pods come and go and whose containers log.
type fakeLogs struct {
	mu   sync.Mutex
	pods []corev1.Pod
	// logs by container ID; a log that ends in "..." stays open (the container runs on).
	logs    map[string]string
	streams []string // "pod/containerID since" of every stream opened
}

func calicoPod(name, id string, running bool) corev1.Pod {
	st := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}
	if running {
		st = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), Labels: map[string]string{"k8s-app": "calico-node"}},
		Status:     corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "calico-node", ContainerID: id, State: st}}},
	}
}

func (f *fakeLogs) set(pods ...corev1.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods = pods
}

// observe hands the follower the current pods, as the rollout's tracker does every poll.
func (f *fakeLogs) observe(lf *LogFollower) {
	f.mu.Lock()
	pods := append([]corev1.Pod(nil), f.pods...)
	f.mu.Unlock()
	lf.Observe(pods)
}

func (f *fakeLogs) follower(since time.Time) *LogFollower {
	return &LogFollower{
		Stream: func(ctx context.Context, pod, _ string, since time.Time) (io.ReadCloser, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			var id string
			for _, p := range f.pods {
				if p.Name == pod {
					id = p.Status.ContainerStatuses[0].ContainerID
				}
			}
			f.streams = append(f.streams, pod+"/"+id)
			text := f.logs[id]
			r, w := io.Pipe()
			go func() {
				_, _ = io.WriteString(w, strings.TrimSuffix(text, "..."))
				if strings.HasSuffix(text, "...") {
					<-ctx.Done()
				}
				_ = w.Close()
			}()
			return r, nil
		},
		Since: since,
	}
}

// A replaced pod's last words, a new pod's, and a restarted container's: all read.
func TestLogFollowerReadsEveryPodThatLived(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	line := func(s int, text string) string {
		return t0.Add(time.Duration(s)*time.Second).Format(time.RFC3339Nano) + " " + text + "\n"
	}
	f := &fakeLogs{logs: map[string]string{
		"old1": line(1, "[INFO][1] felix/x.go: fine") + line(2, "[ERROR][1] felix/x.go: said while shutting down"),
		"new1": line(3, "[ERROR][7] felix/y.go: a new pod's error") + "...",
		"rs1":  line(4, "panic: first container"),
		"rs2":  line(4, "panic: first container") + line(5, "[ERROR][9] second container") + "...",
	}}
	f.set(calicoPod("calico-node-old", "old1", true), calicoPod("calico-node-rs", "rs1", false))
	lf := f.follower(t0)
	lf.Start(context.Background())
	poll := func() {
		for range 5 {
			f.observe(lf)
			time.Sleep(20 * time.Millisecond)
		}
	}
	poll()
	// The old pod is deleted (its stream ended with its last line); a new one comes; the
	// restarted container gets a new ID.
	f.set(calicoPod("calico-node-new", "new1", true), calicoPod("calico-node-rs", "rs2", true))
	poll()
	lines, pods, errs := lf.Stop()
	require.Empty(t, errs)
	require.Equal(t, []string{"calico-node-old", "calico-node-rs", "calico-node-new"}, pods)
	var texts []string
	for _, l := range lines {
		texts = append(texts, l.Pod+": "+l.Text)
	}
	require.ElementsMatch(t, []string{
		"calico-node-old: [ERROR][1] felix/x.go: said while shutting down",
		"calico-node-rs: panic: first container",
		"calico-node-rs: [ERROR][9] second container", // not the first container's line again
		"calico-node-new: [ERROR][7] felix/y.go: a new pod's error",
	}, texts)
	// A stream that ends while the container still shows running is resumed (as a dropped
	// connection would be): its lines are not read twice (above).
	for _, s := range []string{"calico-node-old/old1", "calico-node-rs/rs1", "calico-node-new/new1", "calico-node-rs/rs2"} {
		require.Contains(t, f.streams, s)
	}
	require.Equal(t, 1, strings.Count(strings.Join(f.streams, " "), "calico-node-rs/rs1"), "a terminated container is read once")
}
