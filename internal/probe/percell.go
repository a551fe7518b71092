package probe

import (
	"context"
	"sync"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// RoundPerCell is the naive way, kept only to measure against Round: one exec per cell,
// with at most parallel execs at a time (Round's own parallelism is one per source).
func (e *Engine) RoundPerCell(ctx context.Context, p Plan, shape *matrix.Matrix, parallel int) (*matrix.Matrix, map[matrix.Cell]matrix.Result) {
	obs := matrix.New(shape.Rows, shape.Cols, matrix.NotProbed)
	details := map[matrix.Cell]matrix.Result{}
	sem := make(chan struct{}, max(1, parallel))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range shape.ProbedCells() {
		for _, src := range p.Sources {
			if src.ID != c.Row {
				continue
			}
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				res := e.probeSource(ctx, p, src, []string{c.Col}, e.Timeout, viaExec)
				mu.Lock()
				defer mu.Unlock()
				_ = obs.Set(c.Row, c.Col, res[c.Col].Verdict)
				details[c] = res[c.Col]
			})
		}
	}
	wg.Wait()
	return obs, details
}
