package uicheck

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/browser"
	"github.com/netpol-e2e/harness/internal/harnesstest"
)

// The UI check's expectation: the arrows the observed matrix implies between the UI's apps.
func TestUIEdgesFromTheObservedMatrix(t *testing.T) {
	h, _ := harnesstest.New(t, "../../scenario.yaml")
	end := 8
	want, err := h.Expected(&h.Scenario.Steps[end], h.States[end])
	require.NoError(t, err)
	apps, err := probes(h.States[end].Sources())
	require.NoError(t, err)
	edges, err := edges(want, apps)
	require.NoError(t, err)
	require.Equal(t, "backend->queue client->facade facade->backend facade->queue payments->queue", browser.EdgeList(edges))
	require.True(t, sameEdges(edges, []browser.Edge{{From: "payments", To: "queue"}, {From: "backend", To: "queue"}, {From: "client", To: "facade"}, {From: "facade", To: "queue"}, {From: "facade", To: "backend"}}))
	_, err = probes(h.States[0].Sources()[1:])
	require.ErrorContains(t, err, "no deployment of this state runs the management UI")
}
