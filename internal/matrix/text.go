package matrix

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Corner is the first token of a table's header line.
const Corner = `from\to`

// Format prints m as the fixture text format: a header line of targets, then one line per
// source, columns aligned. Parse reads it back.
func Format(m *Matrix) string {
	var b strings.Builder
	writeTable(&b, m, func(r, c int) string { return m.Cells[r][c].Symbol() })
	return b.String()
}

func writeTable(w io.Writer, m *Matrix, cell func(r, c int) string) {
	first := len(Corner)
	for _, r := range m.Rows {
		first = max(first, len(r))
	}
	widths := make([]int, len(m.Cols))
	for c, col := range m.Cols {
		widths[c] = len(col)
	}
	line := func(head string, cols func(c int) string) {
		var b strings.Builder
		b.WriteString(pad(head, first))
		for c := range m.Cols {
			b.WriteString("  ")
			b.WriteString(pad(cols(c), widths[c]))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(Corner, func(c int) string { return m.Cols[c] })
	for r, row := range m.Rows {
		line(row, func(c int) string { return cell(r, c) })
	}
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

// ParseError names the line of a table that is wrong.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Parse reads a table in the Format format. Blank lines and lines starting with '#' are
// ignored. name is used in error messages (usually the file path).
func Parse(name string, r io.Reader) (*Matrix, error) {
	sc := bufio.NewScanner(r)
	m := &Matrix{}
	rowLine := map[string]int{}
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if m.Cols == nil {
			if fields[0] != Corner {
				return nil, &ParseError{name, n, fmt.Sprintf("header must start with %q, then the targets", Corner)}
			}
			if len(fields) < 2 {
				return nil, &ParseError{name, n, "header names no targets"}
			}
			seen := map[string]bool{}
			for _, col := range fields[1:] {
				if seen[col] {
					return nil, &ParseError{name, n, fmt.Sprintf("target %q listed twice", col)}
				}
				seen[col] = true
			}
			m.Cols = fields[1:]
			continue
		}
		row := fields[0]
		if prev, dup := rowLine[row]; dup {
			return nil, &ParseError{name, n, fmt.Sprintf("source %q already given on line %d", row, prev)}
		}
		if len(fields)-1 != len(m.Cols) {
			return nil, &ParseError{name, n, fmt.Sprintf("source %q has %d cells, the header has %d targets", row, len(fields)-1, len(m.Cols))}
		}
		cells := make([]Verdict, len(m.Cols))
		for i, f := range fields[1:] {
			v, err := ParseVerdict(f)
			if err != nil {
				return nil, &ParseError{name, n, fmt.Sprintf("source %q, target %q: %v", row, m.Cols[i], err)}
			}
			cells[i] = v
		}
		rowLine[row] = n
		m.Rows = append(m.Rows, row)
		m.Cells = append(m.Cells, cells)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if m.Cols == nil {
		return nil, &ParseError{name, n, "no header line found (empty table)"}
	}
	return m, nil
}

// LineOf returns the 1-based line number where row is defined in text, or 0.
func LineOf(text, row string) int {
	for i, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == row {
			return i + 1
		}
	}
	return 0
}
