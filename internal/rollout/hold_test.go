package rollout

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/star"
)

// inProcess runs the star command the harness would exec, here, in-process: the same
// protocol end to end without a cluster.
type inProcess struct{}

func (inProcess) Stream(ctx context.Context, _, _, _ string, cmd []string, stdin io.Reader, stdout, _ io.Writer) error {
	r, err := star.ParseRequest(cmd[2:])
	if err != nil {
		return err
	}
	return r.Run(ctx, stdin, stdout)
}

func serve(t *testing.T, restart chan os.Signal) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		_ = star.Serve(ctx, addr, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), restart)
	}()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 2*time.Second, 20*time.Millisecond)
	return addr
}

// Two held cells, one of whose servers restarts: exactly that cell reports a disruption;
// JudgeConns fails on it unless it is the control's or within the budget.
func TestHoldSessionReportsExactlyTheRestartedServer(t *testing.T) {
	restart := make(chan os.Signal, 1)
	x, y := serve(t, nil), serve(t, restart)
	plan := probe.Plan{
		Sources: []probe.Source{{ID: "a", Namespace: "ns", Pod: "pod-a", Container: "c"}},
		Targets: []probe.Target{{ID: "x", URL: "http://" + x + "/status"}, {ID: "y", URL: "http://" + y + "/status"}, {ID: "dns", URL: "dns+udp://n"}},
	}
	cells := []matrix.Cell{{Row: "a", Col: "x"}, {Row: "a", Col: "y"}}
	h := &Holder{Stream: inProcess{}, Binary: "/star", Interval: 50 * time.Millisecond, Budget: time.Second, Timeout: time.Second}
	require.Equal(t, []string{"/star", "check", "--timeout", "1s", "--hold", "50ms", "--reply-budget", "1s", "--max", "30m0s", "--stdin-stop", "http://u"}, h.Command([]string{"http://u"}))
	hs, err := h.Start(context.Background(), plan, cells)
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond)
	restarted := time.Now()
	restart <- os.Interrupt
	time.Sleep(700 * time.Millisecond)
	conns, events := hs.Stop()
	require.Empty(t, events)
	require.Len(t, conns, 2)
	require.Equal(t, "x", conns[0].Cell.Col)
	require.Empty(t, conns[0].Disruptions)
	require.Zero(t, conns[0].Reconnects)
	require.Greater(t, conns[0].Exchanges, 10)
	require.Len(t, conns[1].Disruptions, 1, "%+v", conns[1])
	require.Equal(t, 1, conns[1].Reconnects)

	problems := JudgeConns(conns, events, 0, nil)
	require.Len(t, problems, 2)
	require.Contains(t, problems[0], "CONNECTION DISRUPTED: a -> y")
	require.Equal(t, "1 held-connection disruptions (budget 0)", problems[1])
	require.Empty(t, JudgeConns(conns, events, 1, nil), "within the budget")
	// Events carry whole milliseconds: one seen within the restart's millisecond is its own.
	require.Empty(t, JudgeConns(conns, events, 0, func(d Disruption) bool {
		return d.Cell.Col == "y" && !d.At.Before(restarted.Truncate(time.Millisecond))
	}), "the control's own")

	_, err = h.Start(context.Background(), plan, []matrix.Cell{{Row: "a", Col: "dns"}})
	require.ErrorContains(t, err, "needs an http target")
}
