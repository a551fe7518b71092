package report

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func samplePeer() *PeerSuite {
	return &PeerSuite{
		Suite: "kubernetes-netpol", Version: "v1.37.0", Command: "netpol-e2e.test --kubeconfig=k", Wall: 2 * time.Minute, Probes: 300,
		Specs: []PeerSpec{
			{Name: "[sig-network] Netpol should deny ingress", Verdict: PeerPassed, Duration: 10 * time.Second},
			{Name: "[sig-network] Netpol should allow egress", Verdict: PeerFailed, Duration: 20 * time.Second, Message: "Expected allowed\nmore"},
			{Name: "[sig-network] Netpol should skip", Verdict: PeerSkipped, Message: "no SCTP"},
		},
		Skips: []PeerSkip{{Specs: `\[Feature:SCTPConnectivity\]`, Reason: "no SCTP in this kernel"}},
	}
}

// The peers' specs are merged into our JUnit as a suite of their own, a case per spec,
// failures and skips kept.
func TestJUnitMergesPeerSuites(t *testing.T) {
	r := sampleRun()
	r.Steps = append(r.Steps, &Step{Name: "peers-kubernetes-netpol", Kind: "peer", Peer: samplePeer(), Failure: &Failure{Problems: []Problem{{What: "1 of 3 specs failed"}}}})
	x, err := r.JUnit()
	require.NoError(t, err)
	var got struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(x, &got))
	require.Len(t, got.Suites, 2)
	require.Equal(t, 4, got.Suites[0].Tests, "our suite: a case per step, the peer step included")
	p := got.Suites[1]
	require.Equal(t, "kubernetes-netpol v1.37.0", p.Name)
	require.Equal(t, 3, p.Tests)
	require.Equal(t, 1, p.Failures)
	require.Nil(t, p.Cases[0].Failure)
	require.NotNil(t, p.Cases[1].Failure)
	require.NotNil(t, p.Cases[2].Skipped)
}

func TestPeerTextAndComparison(t *testing.T) {
	p := samplePeer()
	txt := p.Text()
	for _, want := range []string{"1 passed, 1 failed, 1 skipped in 2m0s; 300 probes", "Expected allowed ...", `left out: \[Feature:SCTPConnectivity\]: no SCTP in this kernel`, "again: netpol-e2e.test"} {
		require.Contains(t, txt, want)
	}
	c := &PeerComparison{Rows: []ComparisonRow{{Suite: "workshop", Cells: 600, Wall: 10 * time.Minute}, {Suite: p.Title(), Cells: 300, Wall: p.Wall}}}
	require.InDelta(t, 60, c.Rows[0].PerMinute(), 0.01)
	require.InDelta(t, 150, c.Rows[1].PerMinute(), 0.01)
	require.Equal(t, 0.0, ComparisonRow{Cells: 1}.PerMinute(), "no wall time: no rate")
	require.True(t, strings.Contains(c.Text(), "150"), c.Text())
	h := (&Run{Steps: []*Step{{Name: "peers", Kind: "peer", Peer: p}}}).HTML()
	require.Contains(t, h, `<td class="fail">failed</td>`)
}
