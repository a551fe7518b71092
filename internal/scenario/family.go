package scenario

import (
	"strings"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// IPv6Column suffixes a column probed over IPv6 in a dual-stack run: a service by name
// resolved to its IPv6 address only (AAAA) or by its IPv6 pod IP, a DNS lookup asking
// for AAAA records, the external host by its IPv6 address. The column without it is IPv4.
const IPv6Column = "@ipv6"

// Externals are the external host's addresses the evaluator matches ipBlocks against;
// V6 is set in a dual-stack run.
type Externals struct{ V4, V6 string }

// IsIPv6Column reports whether a column is an IPv6 one, and gives its IPv4 twin.
func IsIPv6Column(col string) (string, bool) {
	return strings.CutSuffix(col, IPv6Column)
}

// ExpectedFamilies is Expected for every family: the IPv4 matrix and, with ext.V6 set, its
// IPv6 columns (every column again, suffixed IPv6Column) computed with the external host
// at its IPv6 address. NetworkPolicy selects pods by label whatever the family, so the
// halves differ only where an ipBlock tells the addresses apart. byName applies the
// probe's own property that names need DNS (NamesNeedDNS), to each family.
func (st *State) ExpectedFamilies(s *Scenario, ext Externals, byName bool) (*matrix.Matrix, error) {
	v4, err := st.expectedBy(s, ext.V4, byName)
	if err != nil || ext.V6 == "" {
		return v4, err
	}
	v6, err := st.expectedBy(s, ext.V6, byName)
	if err != nil {
		return nil, err
	}
	return mergeFamilies(v4, v6), nil
}

// WithIPv6 is a fixture as a dual-stack run expects it: every column again, suffixed
// IPv6Column, with the same verdicts, but where the fixture has that IPv6 column itself (a
// step whose policies tell the families apart by address).
func WithIPv6(m *matrix.Matrix) *matrix.Matrix {
	v4 := IPv4Only(m)
	v6 := IPv4Only(m)
	for r, row := range v6.Rows {
		for c, col := range v6.Cols {
			if v, ok := m.Get(row, col+IPv6Column); ok {
				v6.Cells[r][c] = v
			}
		}
	}
	return mergeFamilies(v4, v6)
}

// IPv4Only is a fixture as an IPv4 run expects it: without its IPv6 columns.
func IPv4Only(m *matrix.Matrix) *matrix.Matrix {
	var cols []string
	for _, c := range m.Cols {
		if _, v6 := IsIPv6Column(c); !v6 {
			cols = append(cols, c)
		}
	}
	out := matrix.New(m.Rows, cols, matrix.NotProbed)
	for r, row := range m.Rows {
		for c, col := range cols {
			out.Cells[r][c], _ = m.Get(row, col)
		}
	}
	return out
}

func mergeFamilies(v4, v6 *matrix.Matrix) *matrix.Matrix {
	cols := append([]string{}, v4.Cols...)
	for _, c := range v6.Cols {
		cols = append(cols, c+IPv6Column)
	}
	out := matrix.New(v4.Rows, cols, matrix.NotProbed)
	for r := range v4.Rows {
		copy(out.Cells[r], v4.Cells[r])
		copy(out.Cells[r][len(v4.Cols):], v6.Cells[r])
	}
	return out
}
