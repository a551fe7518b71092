package matrix

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run `go test ./internal/matrix -update` to create it")
	if string(want) != got {
		t.Errorf("%s differs from golden file (-want +got):\n%s", path, cmp.Diff(string(want), got))
	}
}

func sample() *Matrix {
	m := New([]string{"frontend/client", "backend/facade", "backend/backend"},
		[]string{"client:9000", "facade:80", "backend:6379", "dns:53/udp"}, Blocked)
	for _, c := range []Cell{{"frontend/client", "facade:80"}, {"backend/facade", "backend:6379"}} {
		if err := m.Set(c.Row, c.Col, Allowed); err != nil {
			panic(err)
		}
	}
	_ = m.Set("frontend/client", "client:9000", NotProbed)
	_ = m.Set("backend/facade", "facade:80", NotProbed)
	_ = m.Set("backend/backend", "backend:6379", NotProbed)
	for _, r := range m.Rows {
		_ = m.Set(r, "dns:53/udp", Allowed)
	}
	return m
}

func TestFormatGolden(t *testing.T) {
	golden(t, "format.txt", Format(sample()))
}

func TestParseRoundTrip(t *testing.T) {
	m := sample()
	got, err := Parse("mem", strings.NewReader("# a comment\n\n"+Format(m)))
	require.NoError(t, err)
	require.Equal(t, m, got)
}

func TestParseEveryVerdict(t *testing.T) {
	got, err := Parse("mem", strings.NewReader(`from\to a:1 b:2 c:3 d:4 e:5 f:6
x/y . X R D ! -
`))
	require.NoError(t, err)
	require.Equal(t, []Verdict{Allowed, Blocked, Refused, DNSFailure, Error, NotProbed}, got.Cells[0])
}

func TestParseErrorsNameTheLine(t *testing.T) {
	cases := map[string]struct{ text, want string }{
		"no header":      {"x/y . X\n", `f.txt:1: header must start with "from\\to"`},
		"empty":          {"# nothing\n", "f.txt:1: no header line found"},
		"short row":      {"from\\to a:1 b:2\nx/y .\n", `f.txt:2: source "x/y" has 1 cells, the header has 2 targets`},
		"bad verdict":    {"from\\to a:1\n\nx/y Q\n", `f.txt:3: source "x/y", target "a:1": unknown verdict "Q"`},
		"duplicate row":  {"from\\to a:1\nx/y .\nx/y X\n", `f.txt:3: source "x/y" already given on line 2`},
		"duplicate col":  {"from\\to a:1 a:1\n", `f.txt:1: target "a:1" listed twice`},
		"header no cols": {"from\\to\n", "f.txt:1: header names no targets"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("f.txt", strings.NewReader(tc.text))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestCompareAndDiffGolden(t *testing.T) {
	want := sample()
	got := want.Clone()
	require.NoError(t, got.Set("frontend/client", "backend:6379", Allowed)) // a leak
	require.NoError(t, got.Set("backend/facade", "backend:6379", Blocked))  // a policy that stopped allowing
	require.NoError(t, got.Set("backend/backend", "client:9000", Refused))  // a broken test
	mm, err := Compare(want, got)
	require.NoError(t, err)
	require.Len(t, mm, 3)
	require.False(t, mm[0].Broken())
	require.True(t, mm[2].Broken())
	golden(t, "diff.txt", RenderDiff(want, mm))
}

func TestCompareIgnoresOrderButNotShape(t *testing.T) {
	a := sample()
	b := New([]string{"backend/backend", "backend/facade", "frontend/client"}, a.Cols, NotProbed)
	for _, c := range a.ProbedCells() {
		v, _ := a.Get(c.Row, c.Col)
		require.NoError(t, b.Set(c.Row, c.Col, v))
	}
	mm, err := Compare(a, b)
	require.NoError(t, err)
	require.Empty(t, mm)

	c := New(a.Rows, a.Cols[:2], Allowed)
	_, err = Compare(a, c)
	require.ErrorContains(t, err, "targets differ")
}

func TestVerdictText(t *testing.T) {
	for v := NotProbed; v <= Error; v++ {
		b, err := v.MarshalText()
		require.NoError(t, err)
		var back Verdict
		require.NoError(t, back.UnmarshalText(b))
		require.Equal(t, v, back)
	}
	require.Equal(t, 5, sample().Count(Allowed))
}
