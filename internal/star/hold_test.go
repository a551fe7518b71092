package star

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func holdEvents(t *testing.T, out string) []HoldEvent {
	t.Helper()
	var evs []HoldEvent
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e HoldEvent
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		evs = append(evs, e)
	}
	return evs
}

// listening waits until addr accepts connections.
func listening(t *testing.T, addr string) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 2*time.Second, 20*time.Millisecond)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// A server restart mid-hold cuts the held connection: one disruption, one reconnect, and
// the exchanges go on; without it, nothing but opens and counters.
func TestHoldReportsAServerRestartOnce(t *testing.T) {
	addr := freeAddr(t)
	restart := make(chan os.Signal, 1)
	sctx, stopServer := context.WithCancel(context.Background())
	defer stopServer()
	go func() { _ = Serve(sctx, addr, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), restart) }()
	listening(t, addr)

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error)
	target := "http://" + addr + "/status"
	go func() {
		done <- Checker{Timeout: time.Second}.Hold(ctx, []string{target}, 50*time.Millisecond, time.Second, &out)
	}()
	time.Sleep(600 * time.Millisecond)
	restart <- os.Interrupt
	time.Sleep(900 * time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	evs := holdEvents(t, out.String())
	var opens, disruptions int
	for _, e := range evs {
		require.Equal(t, target, e.Target)
		switch e.Event {
		case "open":
			opens++
		case "disrupted":
			disruptions++
			require.Contains(t, []string{"closed", "reset"}, e.Kind, e.Detail)
		}
	}
	require.Equal(t, 2, opens, out.String())
	require.Equal(t, 1, disruptions, out.String())
	last := evs[len(evs)-1]
	require.Equal(t, "stats", last.Event)
	require.Equal(t, 1, last.Reconnects)
	require.Greater(t, last.Exchanges, 15, "an exchange about every 50 ms over 1.5 s")
}

// A reply later than the budget is a "late" disruption, and the connection is kept.
func TestHoldReportsALateReply(t *testing.T) {
	var n atomic.Int32
	addr := freeAddr(t)
	sctx, stopServer := context.WithCancel(context.Background())
	defer stopServer()
	go func() {
		_ = Serve(sctx, addr, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			if n.Add(1) == 3 {
				time.Sleep(400 * time.Millisecond)
			}
		}), nil)
	}()
	listening(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var out syncBuffer
	require.NoError(t, Checker{Timeout: time.Second}.Hold(ctx, []string{"http://" + addr + "/"}, 50*time.Millisecond, 200*time.Millisecond, &out))
	evs := holdEvents(t, out.String())
	var late int
	for _, e := range evs {
		if e.Event == "disrupted" {
			require.Equal(t, "late", e.Kind)
			late++
		}
	}
	require.Equal(t, 1, late, out.String())
	last := evs[len(evs)-1]
	require.Zero(t, last.Reconnects)
	require.GreaterOrEqual(t, last.WorstGapMs, int64(400))
}
