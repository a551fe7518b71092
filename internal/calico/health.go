package calico

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/netpol-e2e/harness/internal/strictyaml"
)

// Namespace is where the manifest install puts Calico.
const Namespace = "kube-system"

// PodSelector selects the calico pods whose health is asserted.
const PodSelector = "k8s-app in (calico-node,calico-kube-controllers)"

// containerOf is the container to read of each calico app.
var containerOf = map[string]string{"calico-node": "calico-node", "calico-kube-controllers": "calico-kube-controllers"}

// PodState is what health compares between two moments: one calico pod's readiness and
// its container's restarts.
type PodState struct {
	Name, Node, App string
	Ready           bool
	Restarts        int32
	// LastRestart is when the container last ended (zero when it never restarted).
	LastRestart time.Time
	LastReason  string
}

// Snapshot reads every calico pod's state.
func Snapshot(ctx context.Context, c kubernetes.Interface) ([]PodState, error) {
	list, err := c.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: PodSelector})
	if err != nil {
		return nil, fmt.Errorf("list calico pods: %w", err)
	}
	var out []PodState
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		out = append(out, podState(&p))
	}
	return out, nil
}

func podState(p *corev1.Pod) PodState {
	s := PodState{Name: p.Name, Node: p.Spec.NodeName, App: p.Labels["k8s-app"]}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != containerOf[s.App] {
			continue
		}
		s.Ready, s.Restarts = cs.Ready, cs.RestartCount
		if t := cs.LastTerminationState.Terminated; t != nil {
			s.LastRestart, s.LastReason = t.FinishedAt.Time, fmt.Sprintf("%s, exit code %d", t.Reason, t.ExitCode)
		}
	}
	return s
}

// CompareStates lists every calico pod present in both snapshots whose container
// restarted or that is no longer ready: outside a rollout, both are failures. A pod in
// before and gone in after is one too (nothing should replace calico pods between rollouts).
func CompareStates(before, after []PodState) []string {
	var out []string
	for _, b := range before {
		i := slices.IndexFunc(after, func(a PodState) bool { return a.Name == b.Name })
		if i < 0 {
			out = append(out, fmt.Sprintf("calico pod %s on %s is gone", b.Name, b.Node))
			continue
		}
		a := after[i]
		if a.Restarts > b.Restarts {
			out = append(out, restarted(a, a.Restarts-b.Restarts, ""))
		}
		if b.Ready && !a.Ready {
			out = append(out, fmt.Sprintf("%s on %s is no longer ready", a.Name, a.Node))
		}
	}
	return out
}

// RestartedSince lists the pods of after whose container restarted since before, new pods
// included (counted from 0): during a rollout pods are replaced by design, and only a
// restart is a failure. when says over what the restarts were counted.
func RestartedSince(before, after []PodState, when string) []string {
	var out []string
	for _, a := range after {
		was := int32(0)
		if i := slices.IndexFunc(before, func(b PodState) bool { return b.Name == a.Name }); i >= 0 {
			was = before[i].Restarts
		}
		if a.Restarts > was {
			out = append(out, restarted(a, a.Restarts-was, when))
		}
	}
	return out
}

// restarted says that pod a's container restarted n times (over when, if given).
func restarted(a PodState, n int32, when string) string {
	if when != "" {
		when = " " + when
	}
	return fmt.Sprintf("%s on %s restarted %d time(s)%s, last at %s (%s)", a.Name, a.Node, n, when, a.LastRestart.UTC().Format(time.RFC3339), a.LastReason)
}

// LogLine is one error-level line of a calico pod's log.
type LogLine struct {
	Pod, Container string
	At             time.Time
	Text           string
}

func (l LogLine) String() string {
	return fmt.Sprintf("%s/%s %s: %s", l.Pod, l.Container, l.At.UTC().Format("15:04:05.000"), l.Text)
}

// errorLine matches what Calico's components log at error level or worse (logrus through
// Calico's formatter: "2026-01-02 15:04:05.000 [ERROR][58] felix/...") and Go panics, and
// libbpf's own report of a program the kernel refused ("libbpf: prog 'X': failed to load:
// -EACCES", "libbpf: failed to load object 'F'"), which bypasses the formatter and which
// Felix answers only with a WARNING and a fallback (seen: every IPv6 program refused,
// IPv6 traffic dropped, when they were compiled with an LLVM other than Calico's).
var errorLine = regexp.MustCompile(`\[(ERROR|PANIC|FATAL)\]|^panic: |^fatal error: |^libbpf: .*failed to load`)

// ErrorLines reads the logs of every current calico pod since a moment (previous
// containers' logs too, where one restarted) and returns its error-level lines.
func ErrorLines(ctx context.Context, c kubernetes.Interface, since time.Time) ([]LogLine, error) {
	list, err := c.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: PodSelector})
	if err != nil {
		return nil, fmt.Errorf("list calico pods: %w", err)
	}
	var out []LogLine
	for _, p := range list.Items {
		container := containerOf[p.Labels["k8s-app"]]
		st := podState(&p)
		for _, previous := range []bool{false, true} {
			if previous && st.Restarts == 0 {
				continue
			}
			opts := &corev1.PodLogOptions{Container: container, Timestamps: true, Previous: previous, SinceTime: &metav1.Time{Time: since}}
			raw, err := c.CoreV1().Pods(Namespace).GetLogs(p.Name, opts).DoRaw(ctx)
			if err != nil {
				return out, fmt.Errorf("logs of %s/%s: %w", p.Name, container, err)
			}
			out = append(out, ScanErrors(p.Name, container, string(raw))...)
		}
	}
	return out, nil
}

// ScanErrors picks the error-level lines of a log read with timestamps (each line starts
// with the kubelet's RFC 3339 time).
func ScanErrors(pod, container, log string) []LogLine {
	var out []LogLine
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		at, text, _ := cutTimestamp(sc.Text())
		if errorLine.MatchString(text) {
			out = append(out, LogLine{Pod: pod, Container: container, At: at, Text: text})
		}
	}
	return out
}

// AllowEntry is one kind of error line that does not fail a run, and why.
type AllowEntry struct {
	Pattern *regexp.Regexp
	Reason  string
	File    string
	Line    int
	// ReplacedPodsOnly allows the line only as one of a replaced pod's last: logged within
	// ReplacedPodWindow of the moment the pod was seen gone, before or after it, or up to
	// Lead before it when the entry sets one (a line that can begin as soon as the rollout
	// is applied).
	ReplacedPodsOnly bool
	Lead             time.Duration
	// RolloutOnly allows the line only while a rollout replaces calico pods (in a
	// rollout's logs); between rollouts it fails.
	RolloutOnly bool
}

// ReplacedPodWindow is how far from the moment a pod was seen gone a ReplacedPodsOnly line
// may be logged: the pod tracker polls every 500 ms (so "seen gone" lags the deletion), and a
// calico-node (terminationGracePeriodSeconds 0) runs on for a moment after its pod object is
// deleted (seen: 0.2 s before, 0.4 s after).
const ReplacedPodWindow = 5 * time.Second

// Allowlist is kept as data (calico-log-allowlist.yaml), every entry with its reason.
type Allowlist []AllowEntry

// LoadAllowlist reads the allowlist; every entry needs a pattern that compiles and a reason.
func LoadAllowlist(path string) (Allowlist, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("calico log allowlist: %w", err)
	}
	var raw struct {
		Allow []struct {
			Pattern          string `json:"pattern"`
			Reason           string `json:"reason"`
			ReplacedPodsOnly bool   `json:"replacedPodsOnly"`
			Lead             string `json:"lead"`
			RolloutOnly      bool   `json:"rolloutOnly"`
		} `json:"allow"`
	}
	if err := strictyaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w (want: allow: [{pattern: REGEXP, reason: WHY}])", path, err)
	}
	var out Allowlist
	for i, e := range raw.Allow {
		line := lineOfNth(string(data), "pattern:", i)
		if strings.TrimSpace(e.Reason) == "" {
			return nil, fmt.Errorf("%s:%d: entry %q has no reason: say why this error line is harmless", path, line, e.Pattern)
		}
		if e.Pattern == "" {
			return nil, fmt.Errorf("%s:%d: an entry without a pattern", path, line)
		}
		re, err := regexp.Compile(e.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: pattern %q is not a usable regular expression: %w", path, line, e.Pattern, err)
		}
		var lead time.Duration
		if e.Lead != "" {
			if lead, err = time.ParseDuration(e.Lead); err != nil || !e.ReplacedPodsOnly || lead < ReplacedPodWindow {
				return nil, fmt.Errorf("%s:%d: lead %q: want a duration of at least %s, with replacedPodsOnly: true (how long before its pod was seen gone the line may be logged)", path, line, e.Lead, ReplacedPodWindow)
			}
		}
		out = append(out, AllowEntry{Pattern: re, Reason: e.Reason, File: path, Line: line, ReplacedPodsOnly: e.ReplacedPodsOnly, Lead: lead, RolloutOnly: e.RolloutOnly})
	}
	return out, nil
}

// lineOfNth is the 1-based line of the n-th (0-based) occurrence of key.
func lineOfNth(text, key string, n int) int {
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, key) {
			if n == 0 {
				return i + 1
			}
			n--
		}
	}
	return 0
}

// Judge splits error lines into those the allowlist explains (counted per entry) and
// the rest, which fail a run. gone says when each replaced pod was seen gone; nil means
// the lines were not logged in a rollout (between rollouts), where neither a
// ReplacedPodsOnly nor a RolloutOnly entry applies.
func (a Allowlist) Judge(lines []LogLine, gone map[string]time.Time) (unexpected []LogLine, allowed map[int]int) {
	allowed = map[int]int{}
	for _, l := range lines {
		i := slices.IndexFunc(a, func(e AllowEntry) bool {
			if !e.Pattern.MatchString(l.Text) {
				return false
			}
			if e.RolloutOnly && gone == nil {
				return false
			}
			if !e.ReplacedPodsOnly {
				return true
			}
			at, ok := gone[l.Pod]
			return ok && at.Sub(l.At) <= max(e.Lead, ReplacedPodWindow) && l.At.Sub(at) <= ReplacedPodWindow
		})
		if i < 0 {
			unexpected = append(unexpected, l)
			continue
		}
		allowed[i]++
	}
	return unexpected, allowed
}
