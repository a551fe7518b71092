package inputcheck

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProblemsNameTheFlag(t *testing.T) {
	var p Problems
	require.NoError(t, p.Err())
	p.AtLeast("workers", -1, 2, "the proof puts two pods on two workers")
	p.AtLeast("soak", -3, 0, "rounds")
	p.Positive("dns-timeout", -time.Second)
	p.Positive("upgrade-interval", 0)
	p.NonNegative("upgrade-tail", -time.Second)
	p.ClusterName("cluster-name", "Bad_Name")
	p.ClusterName("cluster-name", "netpol-e2e")
	require.EqualError(t, p.Err(), `bad options:
  -workers=-1: must be at least 2 (the proof puts two pods on two workers)
  -soak=-3: must be at least 0 (rounds)
  -dns-timeout=-1s: must be above 0
  -upgrade-interval=0s: must be above 0
  -upgrade-tail=-1s: must not be negative
  -cluster-name="Bad_Name": a kind cluster name is lower-case letters, digits and '-', starting and ending with a letter or digit, at most 50 characters`)
}

func TestUnknownEnvListsTheValidNames(t *testing.T) {
	known := []string{"NETPOL_SOAK", "NETPOL_KEEP_CLUSTER"}
	require.NoError(t, UnknownEnv([]string{"HOME=/root", "NETPOL_SOAK=3"}, known))
	require.EqualError(t, UnknownEnv([]string{"NETPOL_SOKA=3", "NETPOL_SOAK=1"}, known),
		"unknown environment variable(s) NETPOL_SOKA: the valid names are NETPOL_KEEP_CLUSTER NETPOL_SOAK")
}

func TestSelectedRefusesAPatternThatSelectsNothing(t *testing.T) {
	tests := []string{"TestProof", "TestWorkshop", "TestUpgrade"}
	got, err := Selected("", tests)
	require.NoError(t, err)
	require.Equal(t, tests, got)
	got, err = Selected("TestProof|TestWorkshop/06", tests)
	require.NoError(t, err)
	require.Equal(t, []string{"TestProof", "TestWorkshop"}, got)
	_, err = Selected("TestUpgarde", tests)
	require.EqualError(t, err, `-run="TestUpgarde" selects no test (the live tests are TestProof, TestWorkshop, TestUpgrade): the run would pass having tested nothing`)
	_, err = Selected("(", tests)
	require.Error(t, err)
}

func TestRunsAny(t *testing.T) {
	tests := []Test{
		{Name: "TestProof", Subs: []Test{{Name: "cross-node dataplane", Subs: []Test{{Name: "pod to pod"}}}}},
		{Name: "TestWorkshop", Subs: []Test{{Name: "01-default-deny", Subs: []Test{{Name: "matrix"}}}, {Name: "02-allow", Subs: []Test{{Name: "matrix"}}}}},
	}
	for _, tc := range []struct {
		run, skip string
		want      bool
	}{
		{"", "", true},
		{"TestWorkshop", "", true},
		{"TestWorkshop/01", "", true},
		{"TestWorkshop/zz", "", false}, // builds a cluster, tests nothing
		{"TestWorkshop/01/zz", "", false},
		{"TestProof/cross-node_dataplane", "", true},
		{"Test", "TestProof|TestWorkshop", false},
		{"TestWorkshop", "TestWorkshop/0", false},
		{"TestWorkshop", "TestWorkshop/01", true},
		{"TestWorkshop", "TestWorkshop/zz", true}, // a partial skip match skips nothing
		{"TestZ", "", false},
	} {
		got, err := RunsAny(tc.run, tc.skip, tests)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "-run=%q -skip=%q", tc.run, tc.skip)
	}
	_, err := RunsAny("Test(", "", tests)
	require.ErrorContains(t, err, `-run="Test("`)
	require.Equal(t, []string{"a[/]b", "c"}, splitLevels("a[/]b/c"))
}

func TestWritableDirAndDurationOrder(t *testing.T) {
	var p Problems
	p.WritableDir("report-dir", "", "")
	p.WritableDir("report-dir", "/proc/x", "/proc/x")
	ok := t.TempDir() + "/new/report"
	p.WritableDir("report-dir", ok, ok)
	p.AtLeastDuration("upgrade-hole-budget", 100*time.Millisecond, "upgrade-interval", 250*time.Millisecond, "every rollout would fail")
	p.AtLeastDuration("upgrade-hole-budget", time.Second, "upgrade-interval", 250*time.Millisecond, "every rollout would fail")
	require.Equal(t, []string{
		"-report-dir is empty: name a directory",
		"-report-dir=/proc/x: cannot write there (mkdir /proc/x: no such file or directory): choose a writable directory",
		"-upgrade-hole-budget=100ms is below -upgrade-interval=250ms: every rollout would fail",
	}, []string(p))
	require.DirExists(t, ok)
}

func TestNeedsForTimeoutAndFlagOverEnv(t *testing.T) {
	var p Problems
	p.NeedsFor(false, "upgrade-conn-interval", "0s", "upgrade-conn-control", "client:9000", "give an interval")
	p.NeedsFor(false, "upgrade-conn-interval", "0s", "upgrade-conn-control", "", "give an interval")
	p.NeedsFor(true, "upgrade-conn-interval", "100ms", "upgrade-conn-control", "client:9000", "give an interval")
	p.Timeout(3*time.Minute, 2*time.Minute, 5*time.Minute)
	p.Timeout(0, 2*time.Minute, 5*time.Minute)
	p.Timeout(80*time.Minute, 2*time.Minute, 5*time.Minute)
	require.Equal(t, []string{
		"-upgrade-conn-interval=0s: -upgrade-conn-control=client:9000 cannot run without it: give an interval",
		"-test.timeout=3m0s: a live run needs at least 5m0s, and 2m0s more is kept for the cleanup: give at least 7m0s (make e2e E2E_TIMEOUT=...)",
	}, []string(p))
	require.Equal(t, []string{"-soak=7 is used, not NETPOL_SOAK=5 (a flag wins over its environment variable)"},
		FlagOverEnv(map[string]string{"soak": "7", "keep-cluster": "true", "workers": "3"},
			[]string{"NETPOL_SOAK=5", "NETPOL_KEEP_CLUSTER=true", "NETPOL_WORKERS=9"}, []string{"NETPOL_SOAK", "NETPOL_KEEP_CLUSTER"}))
}
