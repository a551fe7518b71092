package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/star"
)

// TestOpenReadsTheDrawnGraph runs the real management UI (star's collector, polling two
// star probes on loopback) and reads back what Chromium drew.
func TestOpenReadsTheDrawnGraph(t *testing.T) {
	exe, err := Executable(os.Getenv("NETPOL_CHROMIUM"))
	if err != nil {
		t.Skipf("%v (the e2e browser check requires it; this unit test is skipped)", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvB := httptest.NewServer(nil)
	pa := &star.Prober{Name: "a", URLs: []string{srvB.URL + "/status"}, Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond}
	srvA := httptest.NewServer(pa.Handler())
	defer srvA.Close()
	pb := &star.Prober{Name: "b", URLs: []string{"http://127.0.0.1:1/status"}, Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond}
	srvB.Config.Handler = pb.Handler()
	defer srvB.Close()
	go pa.Run(ctx)
	go pb.Run(ctx)
	col := &star.Collector{
		Version: "v2", Probes: []star.NamedURL{{Name: "a", URL: srvA.URL + "/status"}, {Name: "b", URL: srvB.URL + "/status"}},
		Interval: 100 * time.Millisecond, Timeout: 300 * time.Millisecond, Client: &http.Client{},
	}
	go col.Run(ctx)
	ui := httptest.NewServer(col.Handler("management-ui"))
	defer ui.Close()

	page, err := Open(ctx, ui.URL+"/", Options{Exec: exe, Timeout: 30 * time.Second, Ready: func(p Page) bool { return len(p.Edges) == 1 }})
	require.NoError(t, err)
	require.Equal(t, []Edge{{From: "a", To: "b"}}, page.Edges)
	require.ElementsMatch(t, []string{"a", "b"}, page.Nodes)
	require.Empty(t, page.Unseen)
	require.Equal(t, "v2", page.Version)
	require.Greater(t, len(page.Screenshot), 1000)
	require.Equal(t, []byte("\x89PNG"), page.Screenshot[:4], "a PNG")

	// A page that never shows what is awaited: an error naming what it showed, and still
	// a screenshot. (12 s was too short once, with Chromium starting on a loaded machine:
	// the deadline came before the first read of the page.)
	page, err = Open(ctx, ui.URL+"/", Options{Exec: exe, Timeout: 25 * time.Second, Ready: func(p Page) bool { return len(p.Edges) == 5 }})
	require.ErrorContains(t, err, "a->b")
	require.NotNil(t, page)
	require.NotEmpty(t, page.Screenshot)
}
