package probe

import (
	"context"
	"sync"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// RoundPerCell is the naive way, kept only to measure against Round: one exec per cell
// (all cells concurrently), as a loop of `kubectl exec` would do.
func (e *Engine) RoundPerCell(ctx context.Context, p Plan, shape *matrix.Matrix) *matrix.Matrix {
	obs := matrix.New(shape.Rows, shape.Cols, matrix.NotProbed)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range shape.ProbedCells() {
		for _, src := range p.Sources {
			if src.ID != c.Row {
				continue
			}
			wg.Go(func() {
				res := e.probeSource(ctx, p, src, []string{c.Col})
				mu.Lock()
				_ = obs.Set(c.Row, c.Col, res[c.Col].Verdict)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return obs
}
