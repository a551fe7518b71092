package calico

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const sampleLog = `2026-11-28T20:00:00.100000000Z 2026-11-28 20:00:00.100 [INFO][58] felix/int_dataplane.go 1234: Applying dataplane updates
2026-11-28T20:00:01.200000000Z 2026-11-28 20:00:01.200 [ERROR][58] felix/route_table.go 77: Failed to sync routes error=boom
2026-11-28T20:00:02.300000000Z 2026-11-28 20:00:02.300 [WARNING][58] felix/x.go 1: not an error
2026-11-28T20:00:03.400000000Z panic: runtime error: invalid memory address
2026-12-03T06:24:40.745000000Z libbpf: prog 'calico_tc_skb_send_icmp_replies': BPF program load failed: -EACCES
2026-12-03T06:24:40.746000000Z libbpf: prog 'calico_tc_skb_send_icmp_replies': failed to load: -EACCES
2026-12-03T06:24:40.747000000Z libbpf: failed to load object '/usr/lib/calico/bpf/from_wep_no_log_co-re_v6.o'
2026-12-03T06:24:40.748000000Z libbpf: map 'cali_v6_state': created successfully, fd=12
`

func TestScanErrorsPicksErrorLevelsAndPanics(t *testing.T) {
	lines := ScanErrors("calico-node-x", "calico-node", sampleLog)
	// The kernel's refusals as libbpf reports them (its EACCES line, then the object's).
	require.Len(t, lines, 4)
	require.Equal(t, "libbpf: prog 'calico_tc_skb_send_icmp_replies': failed to load: -EACCES", lines[2].Text)
	require.Equal(t, "libbpf: failed to load object '/usr/lib/calico/bpf/from_wep_no_log_co-re_v6.o'", lines[3].Text)
	require.Contains(t, lines[0].Text, "[ERROR][58] felix/route_table.go 77")
	require.Equal(t, time.Date(2026, 11, 28, 20, 0, 1, 200_000_000, time.UTC), lines[0].At)
	require.Equal(t, "calico-node-x/calico-node 20:00:01.200: 2026-11-28 20:00:01.200 [ERROR][58] felix/route_table.go 77: Failed to sync routes error=boom", lines[0].String())
	require.Equal(t, "panic: runtime error: invalid memory address", lines[1].Text)
}

func TestAllowlistJudgesAndNeedsReasons(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("allow:\n  - pattern: 'route_table.go \\d+: Failed to sync'\n    reason: a route sync retried at start-up\n"), 0o644))
	a, err := LoadAllowlist(good)
	require.NoError(t, err)
	unexpected, allowed := a.Judge(ScanErrors("p", "c", sampleLog), nil)
	require.Len(t, unexpected, 3, "the panic and libbpf's refusals are not allowed")
	require.Equal(t, map[int]int{0: 1}, allowed)
	require.Equal(t, 2, a[0].Line)

	for text, want := range map[string]string{
		"allow:\n  - pattern: x\n":                         "no.yaml:2: entry \"x\" has no reason",
		"allow:\n  - pattern: '(['\n    reason: because\n": "no.yaml:2: pattern \"([\" is not a usable regular expression",
		"allow:\n  - pattern: x\n    Reason: y\n":          "unknown field",
	} {
		p := filepath.Join(dir, "no.yaml")
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		_, err := LoadAllowlist(p)
		require.ErrorContains(t, err, want)
	}
}

func TestCompareStatesOutsideRollouts(t *testing.T) {
	at := time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC)
	before := []PodState{{Name: "a", Node: "n1", Ready: true}, {Name: "b", Node: "n2", Ready: true}, {Name: "c", Node: "n3", Ready: true}}
	after := []PodState{{Name: "a", Node: "n1", Ready: true, Restarts: 1, LastRestart: at, LastReason: "Error, exit code 1"}, {Name: "b", Node: "n2"}}
	require.Equal(t, []string{
		"a on n1 restarted 1 time(s), last at 2026-11-28T20:00:00Z (Error, exit code 1)",
		"b on n2 is no longer ready",
		"calico pod c on n3 is gone",
	}, CompareStates(before, after))
	require.Empty(t, CompareStates(before, before))
}

// The repository's allowlist explains exactly the line seen live, not its neighbours.
func TestRepositoryAllowlist(t *testing.T) {
	a, err := LoadAllowlist("../../calico-log-allowlist.yaml")
	require.NoError(t, err)
	seen := `2026-11-28T20:41:12.819000000Z 2026-11-28 20:41:12.818 [ERROR][71] felix/maps.go 695: Failed to run bpftool out=""
2026-11-28T20:41:12.900000000Z 2026-11-28 20:41:12.900 [ERROR][71] felix/maps.go 695: Failed to run bpftool out="Error: map create failed"
2026-11-28T20:41:13.000000000Z 2026-11-28 20:41:13.000 [ERROR][71] felix/int_dataplane.go 1: Failed to program iptables
2026-12-02T17:55:40.891000000Z 2026-12-02 17:55:40.891 [ERROR][62] felix/utils.go 62: Failed to increase RLIMIT_MEMLOCK, loading BPF programs may fail error=operation not permitted
2026-12-02T17:55:40.891000000Z 2026-12-02 17:55:40.891 [ERROR][62] felix/utils.go 62: Failed to increase RLIMIT_MEMLOCK, loading BPF programs may fail error=cannot allocate memory
2026-12-03T06:48:09.386000000Z 2026-12-03 06:48:09.385 [ERROR][59] felix/proxy.go 264: Failed invoking dataplane syncer error=proxy is not initialized
2026-12-03T06:48:09.387000000Z 2026-12-03 06:48:09.386 [ERROR][59] felix/proxy.go 264: Failed invoking dataplane syncer error=failed to write NAT map
2026-12-03T06:49:26.693000000Z 2026-12-03 06:49:26.693 [FATAL][61] node-services/nodeservices.go 81: Node services exiting due to error error=failed to read Node from datastore: Unauthorized
`
	unexpected, allowed := a.Judge(ScanErrors("calico-node-x", "calico-node", seen), nil)
	require.Equal(t, map[int]int{0: 1, 1: 1, 3: 1}, allowed)
	// The neighbours, and node-services' exit outside a replaced pod, are not allowed.
	require.Len(t, unexpected, 5)
	require.Contains(t, unexpected[3].Text, "error=failed to write NAT map")
	require.Contains(t, unexpected[4].Text, "Node services exiting")
	_, allowed = a.Judge(ScanErrors("calico-node-x", "calico-node", seen), map[string]time.Time{"calico-node-x": time.Date(2026, 12, 3, 6, 49, 27, 0, time.UTC)})
	require.Equal(t, 1, allowed[4], "node-services' exit in a pod seen gone 0.3 s later")

	// kube-controllers' datastore check timing out on the API service: only in a rollout,
	// and not another error of the same call.
	kc := `2026-12-03T07:09:37.900000000Z 2026-12-03 07:09:37.899 [ERROR][1] kube-controllers/client.go 376: Error getting cluster information config ClusterInformation="default" error=Get "https://10.96.0.1:443/apis/crd.projectcalico.org/v1/clusterinformations/default": context deadline exceeded
2026-12-03T07:09:37.900000000Z 2026-12-03 07:09:37.900 [ERROR][1] kube-controllers/main.go 280: Failed to verify datastore error=Get "https://10.96.0.1:443/apis/crd.projectcalico.org/v1/clusterinformations/default": context deadline exceeded
2026-12-03T07:09:38.900000000Z 2026-12-03 07:09:38.900 [ERROR][1] kube-controllers/main.go 280: Failed to verify datastore error=Get "https://10.96.0.1:443/apis/crd.projectcalico.org/v1/clusterinformations/default": Unauthorized
2026-12-03T13:41:11.900000000Z 2026-12-03 13:41:11.896 [ERROR][1] kube-controllers/main.go 280: Failed to verify datastore error=Post "https://10.96.0.1:443/apis/crd.projectcalico.org/v1/tiers": context deadline exceeded
2026-12-03T14:18:14.900000000Z 2026-12-03 14:18:14.890 [ERROR][1] kube-controllers/main.go 265: Failed to verify datastore error=client rate limiter Wait returned an error: context deadline exceeded
2026-12-03T14:18:15.900000000Z 2026-12-03 14:18:15.890 [ERROR][1] kube-controllers/main.go 265: Failed to verify datastore error=client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline
`
	unexpected, _ = a.Judge(ScanErrors("calico-kube-controllers-x", "calico-kube-controllers", kc), nil)
	require.Len(t, unexpected, 6, "between rollouts none is allowed")
	unexpected, allowed = a.Judge(ScanErrors("calico-kube-controllers-x", "calico-kube-controllers", kc), map[string]time.Time{})
	require.Equal(t, 4, allowed[5])
	require.Len(t, unexpected, 2)
	require.Contains(t, unexpected[0].Text, "Unauthorized")
	require.Contains(t, unexpected[1].Text, "would exceed context deadline", "only the deadline itself")
}

// A replaced-pods-only entry explains its line only in a pod seen gone within the window
// after it; the same line from a pod still running, or long before its end, fails.
func TestReplacedPodsOnly(t *testing.T) {
	a, err := LoadAllowlist("../../calico-log-allowlist.yaml")
	require.NoError(t, err)
	line := "2026-12-03T00:12:03.966000000Z 2026-12-03 00:12:03.959 [ERROR][72] monitor-addresses/startup.go 464: Failed to read Node from datastore error=Unauthorized\n"
	lines := ScanErrors("calico-node-p8spr", "calico-node", line)
	require.Len(t, lines, 1)
	at := lines[0].At
	for name, c := range map[string]struct {
		gone map[string]time.Time
		ok   bool
	}{
		"replaced, seen gone 0.2 s later": {map[string]time.Time{"calico-node-p8spr": at.Add(200 * time.Millisecond)}, true},
		"still running":                   {map[string]time.Time{"calico-node-other": at}, false},
		"no tracker (between rollouts)":   {nil, false},
		"seen gone 0.4 s before the line": {map[string]time.Time{"calico-node-p8spr": at.Add(-400 * time.Millisecond)}, true},
		"gone 10 s later":                 {map[string]time.Time{"calico-node-p8spr": at.Add(10 * time.Second)}, false},
		"gone 10 s before the line":       {map[string]time.Time{"calico-node-p8spr": at.Add(-10 * time.Second)}, false},
	} {
		unexpected, _ := a.Judge(lines, c.gone)
		require.Equal(t, c.ok, len(unexpected) == 0, name)
	}
}

// An entry with a lead explains its line from that long before its pod was seen gone (the
// downgrade's refused status write, 5.6 s before, in a local eBPF run); a lead without
// replacedPodsOnly, or shorter than the window, is refused with the file and line.
func TestReplacedPodsOnlyLead(t *testing.T) {
	a, err := LoadAllowlist("../../calico-log-allowlist.yaml")
	require.NoError(t, err)
	line := `2026-12-03T13:42:23.910000000Z 2026-12-03 13:42:23.907 [ERROR][1] kube-controllers/customresource.go 221: Error updating resource status Key=KubeControllersConfiguration(default) Name="default" error=kubecontrollersconfigurations.crd.projectcalico.org "default" is forbidden: User "system:serviceaccount:kube-system:calico-kube-controllers" cannot update resource "kubecontrollersconfigurations/status" in API group "crd.projectcalico.org" at the cluster scope` + "\n"
	lines := ScanErrors("calico-kube-controllers-x", "calico-kube-controllers", line)
	require.Len(t, lines, 1)
	at := lines[0].At
	for gone, ok := range map[time.Duration]bool{5640 * time.Millisecond: true, 44 * time.Second: true, 46 * time.Second: false, -6 * time.Second: false} {
		unexpected, _ := a.Judge(lines, map[string]time.Time{"calico-kube-controllers-x": at.Add(gone)})
		require.Equal(t, ok, len(unexpected) == 0, "seen gone %s after the line", gone)
	}
	notFound := ScanErrors("calico-kube-controllers-x", "calico-kube-controllers", strings.Replace(line, `is forbidden: User "system:serviceaccount:kube-system:calico-kube-controllers" cannot update resource "kubecontrollersconfigurations/status" in API group "crd.projectcalico.org" at the cluster scope`, `not found`, 1))
	unexpected, _ := a.Judge(notFound, map[string]time.Time{"calico-kube-controllers-x": at.Add(5670 * time.Millisecond)})
	require.Empty(t, unexpected, "CI18's form of the same write")
	unexpected, _ = a.Judge(notFound, map[string]time.Time{})
	require.Len(t, unexpected, 1, "from a pod the rollout did not replace")
	dir := t.TempDir()
	for body, want := range map[string]string{
		"allow:\n  - pattern: 'x'\n    lead: 30s\n    reason: r\n":                            `:2: lead "30s": want a duration of at least 5s, with replacedPodsOnly: true`,
		"allow:\n  - pattern: 'x'\n    replacedPodsOnly: true\n    lead: 2s\n    reason: r\n": `:2: lead "2s": want a duration of at least 5s`,
	} {
		f := filepath.Join(dir, "a.yaml")
		require.NoError(t, os.WriteFile(f, []byte(body), 0o644))
		_, err := LoadAllowlist(f)
		require.ErrorContains(t, err, want)
	}
}
