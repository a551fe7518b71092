package star

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of Watch.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWatchProbesEachTargetOnItsOwnClock(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	byName := "http://app.test:" + port + "/status"
	hole := "tcp://" + blackhole(t)
	c := Checker{Timeout: 300 * time.Millisecond, DNSServer: fakeDNS(t)}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error)
	go func() { done <- c.Watch(ctx, []string{byName, hole}, 100*time.Millisecond, &out) }()
	time.Sleep(1200 * time.Millisecond)
	// The server goes away mid-watch: its target turns refused, without a restart.
	srv.Close()
	time.Sleep(600 * time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	results, err := ParseResults(strings.NewReader(out.String()))
	require.NoError(t, err)
	byTarget := map[string][]matrix.Result{}
	for _, r := range results {
		require.NotZero(t, r.At, "every watch line carries its start time")
		byTarget[r.URL] = append(byTarget[r.URL], r)
	}
	ok := byTarget[byName]
	// About one probe per 100 ms over 1.8 s. Lines come as probes end, so on a loaded
	// machine one may follow a later-started one: the analysis orders them by start time.
	require.GreaterOrEqual(t, len(ok), 12, "allowed target probed every interval")
	slices.SortStableFunc(ok, func(a, b matrix.Result) int { return a.At.Compare(b.At) })
	require.Equal(t, matrix.Allowed, ok[0].Verdict, ok[0].Detail)
	require.Equal(t, matrix.Refused, ok[len(ok)-1].Verdict, ok[len(ok)-1].Detail)
	// A blocked target is probed on the same schedule, its probes overlapping (each waits
	// out the 300 ms timeout): as many probes, never a start more than about one interval
	// after the previous one, all blocked, and the ones under way at the end reported too.
	blocked := byTarget[hole]
	require.GreaterOrEqual(t, len(blocked), 15)
	slices.SortStableFunc(blocked, func(a, b matrix.Result) int { return a.At.Compare(b.At) })
	for i, r := range blocked {
		require.Equal(t, matrix.Blocked, r.Verdict)
		if i > 0 {
			require.Less(t, r.At.Sub(blocked[i-1].At), 250*time.Millisecond, "probe %d started %s after the previous one", i, r.At.Sub(blocked[i-1].At))
		}
	}
}

func TestWatchRejectsBadUsage(t *testing.T) {
	require.Error(t, Checker{}.Watch(context.Background(), nil, time.Second, &bytes.Buffer{}))
	require.Error(t, Checker{}.Watch(context.Background(), []string{"tcp://127.0.0.1:1"}, 0, &bytes.Buffer{}))
}

// A server that accepts and never answers: connected (the policy let it through), so the
// answer gets AnswerTimeout, not the connect timeout, and then it is an error, not blocked.
func TestCheckWaitsForTheAnswerOnceConnected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	r := Checker{Timeout: 200 * time.Millisecond}.Check(context.Background(), []string{"http://" + ln.Addr().String() + "/status"})
	require.Equal(t, matrix.Error, r[0].Verdict, r[0].Detail)
	require.Contains(t, r[0].Detail, "read response")
	require.GreaterOrEqual(t, time.Since(start), AnswerTimeout)
}
