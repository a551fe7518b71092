package matrix

import (
	"fmt"
	"slices"
)

// Matrix is a truth table: Rows are sources ("namespace/app"), Cols are targets
// ("service:port", "dns:53/udp", "external:8080"), Cells[r][c] the verdict.
type Matrix struct {
	Rows  []string    `json:"rows"`
	Cols  []string    `json:"cols"`
	Cells [][]Verdict `json:"cells"`
}

// New returns a matrix with every cell set to def.
func New(rows, cols []string, def Verdict) *Matrix {
	m := &Matrix{Rows: slices.Clone(rows), Cols: slices.Clone(cols), Cells: make([][]Verdict, len(rows))}
	for r := range m.Cells {
		m.Cells[r] = make([]Verdict, len(cols))
		for c := range m.Cells[r] {
			m.Cells[r][c] = def
		}
	}
	return m
}

// Get returns the verdict of one cell, and false if row or column is unknown.
func (m *Matrix) Get(row, col string) (Verdict, bool) {
	r, c := slices.Index(m.Rows, row), slices.Index(m.Cols, col)
	if r < 0 || c < 0 {
		return NotProbed, false
	}
	return m.Cells[r][c], true
}

// Set changes one cell; it fails on an unknown row or column.
func (m *Matrix) Set(row, col string, v Verdict) error {
	r, c := slices.Index(m.Rows, row), slices.Index(m.Cols, col)
	if r < 0 {
		return fmt.Errorf("unknown source %q (have %v)", row, m.Rows)
	}
	if c < 0 {
		return fmt.Errorf("unknown target %q (have %v)", col, m.Cols)
	}
	m.Cells[r][c] = v
	return nil
}

// Clone returns a deep copy.
func (m *Matrix) Clone() *Matrix {
	n := &Matrix{Rows: slices.Clone(m.Rows), Cols: slices.Clone(m.Cols), Cells: make([][]Verdict, len(m.Cells))}
	for r := range m.Cells {
		n.Cells[r] = slices.Clone(m.Cells[r])
	}
	return n
}

// Cell names one cell of a matrix.
type Cell struct {
	Row string `json:"from,omitempty"`
	Col string `json:"to,omitempty"`
}

// ProbedCells lists every cell that is to be probed (not NotProbed), row by row.
func (m *Matrix) ProbedCells() []Cell {
	var out []Cell
	for r, row := range m.Rows {
		for c, col := range m.Cols {
			if m.Cells[r][c] != NotProbed {
				out = append(out, Cell{row, col})
			}
		}
	}
	return out
}

// Count returns how many cells hold v.
func (m *Matrix) Count(v Verdict) int {
	n := 0
	for _, row := range m.Cells {
		for _, x := range row {
			if x == v {
				n++
			}
		}
	}
	return n
}
