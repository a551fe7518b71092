package star

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// The harness builds the command line with Argv and star reads it with ParseRequest: one
// definition, both ends.
func TestRequestRoundTrips(t *testing.T) {
	for _, r := range []Request{
		{Timeout: time.Second, DNSTimeout: 5 * time.Second, Targets: []string{"http://a:1/status", "dns+udp://b."}},
		{Timeout: 3 * time.Second, DNSTimeout: 5 * time.Second, Watch: 250 * time.Millisecond, Max: time.Hour, StdinStop: true, Targets: []string{"tcp://c:2"}},
		{Timeout: time.Second, DNSTimeout: 2 * time.Second, Hold: 100 * time.Millisecond, ReplyBudget: time.Second, Max: 30 * time.Minute, StdinStop: true, DNSServer: "10.96.0.10:53", Targets: []string{"http://d:3/"}},
	} {
		argv := r.Argv("/star")
		require.Equal(t, []string{"/star", "check"}, argv[:2])
		got, err := ParseRequest(argv[2:])
		require.NoError(t, err, argv)
		if r.ReplyBudget == 0 {
			r.ReplyBudget = time.Second
		}
		if r.Max == 0 {
			r.Max = 30 * time.Minute
		}
		require.Equal(t, r, got)
	}
}

func TestParseRequestRefusesBadUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "1s"}, "at least one target"},
		{[]string{"--watch", "1s", "--hold", "1s", "x"}, "exclude each other"},
		{[]string{"--timeout", "0s", "x"}, "--timeout must be above 0"},
		{[]string{"--bogus", "x"}, "flag provided but not defined"},
	} {
		_, err := ParseRequest(c.args)
		require.ErrorContains(t, err, c.want)
	}
}

// A session answers each round read on stdin, tagged with its round, until stdin closes.
func TestSessionAnswersRounds(t *testing.T) {
	r, err := ParseRequest([]string{"--timeout", "1s", "--session"})
	require.NoError(t, err)
	require.True(t, r.Session)
	require.Equal(t, []string{"/star", "check", "--timeout", "1s", "--dns-timeout", "5s", "--session"}, r.Argv("/star"))
	_, err = ParseRequest([]string{"--session", "tcp://x:1"})
	require.ErrorContains(t, err, "--session takes its targets from stdin")

	in := strings.NewReader(`{"round":1,"timeoutNs":300000000,"targets":["tcp://127.0.0.1:1"]}
{"round":2,"timeoutNs":300000000,"targets":["tcp://127.0.0.1:1","tcp://127.0.0.1:2"]}
`)
	var out strings.Builder
	require.NoError(t, r.Run(context.Background(), in, &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3)
	var a RoundAnswer
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &a))
	require.Equal(t, 2, a.Round)
	require.Equal(t, "tcp://127.0.0.1:2", a.URL)
	require.Equal(t, matrix.Refused, a.Verdict)
}

// The harness writes its targets with these; Check parses them back.
func TestTargetURLsParseBack(t *testing.T) {
	for url, want := range map[string]string{
		StatusURL("a.b.svc.cluster.local.", 80, false): "http://a.b.svc.cluster.local.:80/status",
		StatusURL("a.b.svc.cluster.local.", 80, true):  "http+ipv6://a.b.svc.cluster.local.:80/status",
		StatusURL("fd00::1", 8080, true):               "http://[fd00::1]:8080/status",
		StatusURL("10.0.0.1", 8080, false):             "http://10.0.0.1:8080/status",
		LookupURL("x.y.", "udp", false):                "dns+udp://x.y.",
		LookupURL("x.y.", "tcp", true):                 "dns+tcp+ipv6://x.y.",
	} {
		require.Equal(t, want, url)
		_, _, err := parseTarget(url)
		require.NoError(t, err, url)
	}
}
