package peers

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/images"
	"github.com/netpol-e2e/harness/internal/report"
)

// testdata/netpol-junit.xml is the JUnit report of a real run of the upstream Netpol specs
// here (make peers, 2026-12-03), cut to three specs and one SCTP skip, with one failed
// spec added in the form ginkgo writes failures.
func TestParseJUnitKeepsEachSpecsVerdict(t *testing.T) {
	data, err := os.ReadFile("testdata/netpol-junit.xml")
	require.NoError(t, err)
	specs, err := ParseJUnit(data)
	require.NoError(t, err)
	require.Len(t, specs, 4, "the passed SynchronizedBeforeSuite node is not a spec")
	require.Equal(t, report.PeerPassed, specs[0].Verdict)
	require.Equal(t, "[It] [sig-network] Netpol API should support creating NetworkPolicy API operations", specs[0].Name)
	require.InDelta(t, 4.13, specs[0].Duration.Seconds(), 0.01)
	require.Equal(t, report.PeerSkipped, specs[2].Verdict)
	require.Equal(t, report.PeerFailed, specs[3].Verdict)
	require.Contains(t, specs[3].Message, "Had 3 wrong results in reachability matrix")
	require.Contains(t, specs[3].Name, "'default-deny-all'", "XML entities decoded")

	s := &report.PeerSuite{Specs: specs, Skips: []report.PeerSkip{{Specs: sctpSkip, Reason: "no SCTP here"}}}
	explainSkips(s)
	require.Equal(t, "no SCTP here", s.Specs[2].Message, "a skip of ours carries its reason")

	_, err = ParseJUnit([]byte("<testsuites><testsuite>"))
	require.Error(t, err)
}

// testdata/conformance-go-test.txt is go test -v output of the network-policy-api
// conformance binary run here.
func TestParseGoTestReadsSubtests(t *testing.T) {
	data, err := os.ReadFile("testdata/conformance-go-test.txt")
	require.NoError(t, err)
	specs := ParseGoTest(string(data))
	require.NotEmpty(t, specs)
	byVerdict := map[report.PeerVerdict]int{}
	for _, s := range specs {
		byVerdict[s.Verdict]++
		require.Contains(t, s.Name, "/", "only subtests: the test function holds them")
		if s.Verdict == report.PeerFailed {
			require.NotEmpty(t, s.Message, s.Name)
		}
	}
	require.Positive(t, byVerdict[report.PeerPassed])

	out := ParseGoTest("=== RUN   T\n=== RUN   T/a\n    x_test.go:1: FAILED Command was /agnhost connect\n--- FAIL: T (2.00s)\n    --- FAIL: T/a (1.50s)\n        x_test.go:9: Expected connection to fail\n    --- PASS: T/b (0.25s)\nFAIL\n")
	require.Equal(t, []report.PeerSpec{
		{Name: "T/a", Verdict: report.PeerFailed, Duration: 1500 * time.Millisecond, Message: "x_test.go:9: Expected connection to fail"},
		{Name: "T/b", Verdict: report.PeerPassed, Duration: 250 * time.Millisecond},
	}, out)
}

func TestArgs(t *testing.T) {
	a := strings.Join(NetpolArgs("/k", "/r", true), " ")
	for _, want := range []string{"--kubeconfig=/k", "--provider=skeleton", "--report-dir=/r", `--ginkgo.focus=\[sig-network\] Netpol`, `--ginkgo.skip=\[Feature:SCTPConnectivity\]`} {
		require.Contains(t, a, want)
	}
	require.NotContains(t, strings.Join(NetpolArgs("/k", "/r", false), " "), "ginkgo.skip", "SCTP specs run where the kernel has SCTP")
	api, err := images.NetworkPolicyAPIFor("v3.31.7")
	require.NoError(t, err)
	c := strings.Join(ConformanceArgs(api, "v3.31.7", "/r.yaml", true), " ")
	for _, want := range []string{"-conformance-profiles=AdminNetworkPolicy,BaselineAdminNetworkPolicy", "-version=v3.31.7", "-report-output=/r.yaml", "-additional-info=", "-test.skip=/SCTP"} {
		require.Contains(t, c, want)
	}
	require.NotContains(t, strings.Join(ConformanceArgs(api, "v3.31.7", "/r.yaml", false), " "), "-test.skip")
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
