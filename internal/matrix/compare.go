package matrix

import (
	"fmt"
	"slices"
	"strings"
)

// Mismatch is one cell where the observed verdict differs from the expected one.
type Mismatch struct {
	Row, Col string
	Want     Verdict
	Got      Verdict
}

// Broken reports whether the mismatch means the test itself is broken rather than the
// policy being wrong: blocked was expected and the probe saw something other than a
// timeout or success (refused, dns-failure, error).
func (m Mismatch) Broken() bool {
	return m.Got == Refused || m.Got == DNSFailure || m.Got == Error
}

func (m Mismatch) String() string {
	kind := "policy"
	if m.Broken() {
		kind = "broken test"
	}
	return fmt.Sprintf("%s -> %s: expected %s (%s), observed %s (%s) [%s]",
		m.Row, m.Col, m.Want.Symbol(), m.Want, m.Got.Symbol(), m.Got, kind)
}

// Compare returns the cells where observed differs from expected. The matrices must have
// the same rows and columns (in any order); otherwise it returns an error.
func Compare(expected, observed *Matrix) ([]Mismatch, error) {
	if err := sameShape(expected, observed); err != nil {
		return nil, err
	}
	var out []Mismatch
	for r, row := range expected.Rows {
		for c, col := range expected.Cols {
			want := expected.Cells[r][c]
			got, _ := observed.Get(row, col)
			if want != got {
				out = append(out, Mismatch{Row: row, Col: col, Want: want, Got: got})
			}
		}
	}
	return out, nil
}

func sameShape(a, b *Matrix) error {
	ar, br := slices.Sorted(slices.Values(a.Rows)), slices.Sorted(slices.Values(b.Rows))
	ac, bc := slices.Sorted(slices.Values(a.Cols)), slices.Sorted(slices.Values(b.Cols))
	if !slices.Equal(ar, br) {
		return fmt.Errorf("sources differ: expected %v, observed %v", a.Rows, b.Rows)
	}
	if !slices.Equal(ac, bc) {
		return fmt.Errorf("targets differ: expected %v, observed %v", a.Cols, b.Cols)
	}
	return nil
}

// RenderDiff prints a grid over the expected matrix's shape where matching cells are
// blank-dotted and each wrong cell shows "want>got", followed by one line per mismatch.
func RenderDiff(expected *Matrix, mismatches []Mismatch) string {
	if len(mismatches) == 0 {
		return "no differences\n"
	}
	d := New(expected.Rows, expected.Cols, NotProbed)
	text := make(map[Cell]string, len(mismatches))
	for _, mm := range mismatches {
		text[Cell{mm.Row, mm.Col}] = mm.Want.Symbol() + ">" + mm.Got.Symbol()
	}
	var b strings.Builder
	writeTable(&b, d, func(r, c int) string {
		if s, ok := text[Cell{d.Rows[r], d.Cols[c]}]; ok {
			return s
		}
		return "="
	})
	fmt.Fprintf(&b, "(= as expected, want>got where wrong)\n")
	for _, mm := range mismatches {
		fmt.Fprintf(&b, "  %s\n", mm)
	}
	return b.String()
}
