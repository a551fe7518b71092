package peers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/versions"
)

// testdata/netpol-junit.xml is the JUnit report of a real run of the upstream Netpol specs
// here (make peers, 2026-12-03), cut to one passed spec and one SCTP skip, with one failed
// spec added in the form ginkgo writes failures.
func TestParseJUnitKeepsEachSpecsVerdict(t *testing.T) {
	data, err := os.ReadFile("testdata/netpol-junit.xml")
	require.NoError(t, err)
	specs, err := ParseJUnit(data)
	require.NoError(t, err)
	require.Len(t, specs, 3, "the passed SynchronizedBeforeSuite node is not a spec")
	require.Equal(t, report.PeerPassed, specs[0].Verdict)
	require.Equal(t, "[It] [sig-network] Netpol API should support creating NetworkPolicy API operations", specs[0].Name)
	require.InDelta(t, 4.13, specs[0].Duration.Seconds(), 0.01)
	require.Equal(t, report.PeerSkipped, specs[1].Verdict)
	require.Equal(t, report.PeerFailed, specs[2].Verdict)
	require.Equal(t, "[FAILED] Had 3 wrong results in reachability matrix\nIn [It] at: k8s.io/kubernetes/test/e2e/network/netpol/test_helper.go:131", specs[2].Message)
	require.Contains(t, specs[2].Name, "'default-deny-all'", "XML entities decoded")

	s := &report.PeerSuite{Specs: specs, Skips: []report.PeerSkip{{Specs: sctpSkip, Reason: "no SCTP here"}}}
	explainSkips(s)
	require.Equal(t, "no SCTP here", s.Specs[1].Message, "a skip of ours carries its reason")

	_, err = ParseJUnit([]byte("<testsuites><testsuite>"))
	require.Error(t, err)
}

// testdata/conformance-go-test.txt is go test -v output of the network-policy-api
// conformance binary run here.
func TestParseGoTestReadsSubtests(t *testing.T) {
	data, err := os.ReadFile("testdata/conformance-go-test.txt")
	require.NoError(t, err)
	specs := ParseGoTest(string(data))
	require.Len(t, specs, 3, "the innermost results: a test holding subtests is not a spec")
	require.Equal(t, "TestConformanceProfiles/CNPAdminTierEgressNamedPort", specs[0].Name)
	require.Equal(t, report.PeerSkipped, specs[0].Verdict)
	require.Equal(t, "suite.go:210: Skipping CNPAdminTierEgressNamedPort: suite does not support ClusterNetworkPolicyNamedPorts", specs[0].Message)
	require.Equal(t, report.PeerFailed, specs[1].Verdict)
	require.InDelta(t, 22.44, specs[1].Duration.Seconds(), 0.001)
	require.Contains(t, specs[1].Message, "FAILED Command was [/agnhost connect --timeout=3s --protocol=sctp")
	require.Equal(t, report.PeerPassed, specs[2].Verdict)
	require.Empty(t, specs[2].Message)

	out := ParseGoTest("=== RUN   T\n=== RUN   T/a\n    x_test.go:1: FAILED Command was /agnhost connect\n--- FAIL: T (2.00s)\n    --- FAIL: T/a (1.50s)\n        x_test.go:9: Expected connection to fail\n    --- PASS: T/b (0.25s)\nFAIL\n")
	require.Equal(t, []report.PeerSpec{
		{Name: "T/a", Verdict: report.PeerFailed, Duration: 1500 * time.Millisecond, Message: "x_test.go:1: FAILED Command was /agnhost connect"},
		{Name: "T/b", Verdict: report.PeerPassed, Duration: 250 * time.Millisecond},
	}, out)
}

func TestArgs(t *testing.T) {
	a := strings.Join(NetpolArgs("/k", "/r", true), " ")
	for _, want := range []string{"--kubeconfig=/k", "--provider=skeleton", "--report-dir=/r", `--ginkgo.focus=\[sig-network\] Netpol`, `--ginkgo.skip=\[Feature:SCTPConnectivity\]`} {
		require.Contains(t, a, want)
	}
	require.NotContains(t, strings.Join(NetpolArgs("/k", "/r", false), " "), "ginkgo.skip", "SCTP specs run where the kernel has SCTP")
	api, err := versions.NetworkPolicyAPIFor("v3.31.7")
	require.NoError(t, err)
	c := strings.Join(ConformanceArgs(api, "v3.31.7", "/r.yaml", "/(^A$)/(^b$)"), " ")
	for _, want := range []string{"-conformance-profiles=AdminNetworkPolicy,BaselineAdminNetworkPolicy", "-version=v3.31.7", "-report-output=/r.yaml", "-additional-info=", "-test.skip=/(^A$)/(^b$)"} {
		require.Contains(t, c, want)
	}
	require.NotContains(t, strings.Join(ConformanceArgs(api, "v3.31.7", "/r.yaml", ""), " "), "-test.skip")
	require.Equal(t, []string{"a", "'b c'", `'\[x\]'`}, quoteAll([]string{"a", "b c", `\[x\]`}))
}

// The kernel's answer is what decides; here it is one or the other, with a reason when not.
func TestSCTPSupportSaysWhy(t *testing.T) {
	ok, why := SCTPSupport()
	if !ok {
		require.Contains(t, why, "IPPROTO_SCTP")
	} else {
		require.Empty(t, why)
	}
}

func TestConformanceSubtestsAndTheSCTPSkip(t *testing.T) {
	subs, err := ConformanceSubtests("testdata/conformance-tests")
	require.NoError(t, err)
	require.Equal(t, []Subtest{
		{Test: "CNPAdminTierGress", Name: "Should_support_an_'allow-gress'_policy_across_different_protocols", SCTP: true},
		{Test: "CNPAdminTierGress", Name: "Should_support_a_'deny-gress'_policy_for_TCP_only"},
		{Test: "CNPAdminTierEgressSCTP", Name: "Should_support_an_'allow-egress'_policy_for_SCTP_protocol", SCTP: true},
	}, subs)
	expr, skipped, err := SCTPSkip(subs)
	require.NoError(t, err)
	require.Equal(t, []string{subs[0].Path(), subs[2].Path()}, skipped)
	require.Equal(t, `/(^CNPAdminTierGress$|^CNPAdminTierEgressSCTP$)/(^Should_support_an_'allow-gress'_policy_across_different_protocols$|^Should_support_an_'allow-egress'_policy_for_SCTP_protocol$)`, expr)

	// A subtest name shared by an SCTP one and one that probes no SCTP, under tests the
	// skip catches: the expression cannot tell them apart, and says so.
	subs = append(subs, Subtest{Test: "CNPAdminTierGress", Name: subs[2].Name})
	_, _, err = SCTPSkip(subs)
	require.ErrorContains(t, err, "would also leave out CNPAdminTierGress/Should_support_an_'allow-egress'_policy_for_SCTP_protocol, which probes no SCTP")

	_, _, err = SCTPSkip(nil)
	require.NoError(t, err, "nothing probes SCTP: no skip")
	_, err = ConformanceSubtests("testdata/none")
	require.Error(t, err)
}

// A suite binary that fails outside its specs is an error even when every spec passed.
func TestExitWithoutFailure(t *testing.T) {
	passed := &report.PeerSuite{Specs: []report.PeerSpec{{Name: "a", Verdict: report.PeerPassed}}}
	require.NoError(t, exitWithoutFailure(passed, 0, "/d"))
	require.ErrorContains(t, exitWithoutFailure(passed, 1, "/d"), "exited with status 1 although no spec failed: see /d/output.log")
	failed := &report.PeerSuite{Specs: []report.PeerSpec{{Name: "a", Verdict: report.PeerFailed}}}
	require.NoError(t, exitWithoutFailure(failed, 1, "/d"), "the failed spec says it")
}

// runSuite reports the binary's exit status and keeps its output in dir/output.log.
func TestRunSuiteKeepsOutputAndExitStatus(t *testing.T) {
	dir := t.TempDir()
	s := &report.PeerSuite{}
	out, exit, err := runSuite(context.Background(), s, dir, "/bin/sh", []string{"-c", "echo $X; exit 3"}, []string{"X=hello"})
	require.NoError(t, err)
	require.Equal(t, 3, exit)
	require.Equal(t, "hello\n", out)
	logged, err := os.ReadFile(filepath.Join(dir, "output.log"))
	require.NoError(t, err)
	require.Equal(t, out, string(logged))
	require.Equal(t, "X=hello /bin/sh -c 'echo $X; exit 3'", s.Command)
	_, _, err = runSuite(context.Background(), s, dir, filepath.Join(dir, "missing"), nil, nil)
	require.Error(t, err)
}
