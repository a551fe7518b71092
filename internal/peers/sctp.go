package peers

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Subtest is one t.Run of a conformance test: its test's ShortName and its own name as go
// test prints it (spaces as underscores).
type Subtest struct {
	Test, Name string
	// SCTP says whether its body probes over SCTP (a "sctp" argument).
	SCTP bool
}

// Path is the subtest's -run/-skip path below the test function.
func (s Subtest) Path() string { return s.Test + "/" + s.Name }

// ConformanceSubtests reads the conformance suite's source (its tests/ folder) and lists
// every subtest, saying which probe over SCTP: read from the code, so the skip list
// follows the suite's version without a hand-kept copy.
func ConformanceSubtests(testsDir string) ([]Subtest, error) {
	files, err := filepath.Glob(filepath.Join(testsDir, "*.go"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no conformance test source in %s", testsDir)
	}
	var out []Subtest
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			return nil, err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			name := stringField(lit, "ShortName")
			if name == "" {
				return true
			}
			ast.Inspect(lit, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 2 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Run" {
					return true
				}
				sub, ok := stringLit(call.Args[0])
				if !ok {
					return true
				}
				out = append(out, Subtest{Test: name, Name: strings.ReplaceAll(sub, " ", "_"), SCTP: mentions(call.Args[1], "sctp")})
				return false
			})
			return false
		})
	}
	return out, nil
}

// SCTPSkip is the go test -skip expression that leaves out every subtest that probes
// over SCTP (those of the tests named for SCTP among them), and the subtests it leaves
// out. go's -skip matches each level of a name on its own (test, then subtest), so the
// expression is a set of tests and a set of subtest names: it fails if that pair of sets
// would also catch a subtest that probes no SCTP.
func SCTPSkip(subs []Subtest) (string, []string, error) {
	var tests, names []string
	for _, s := range subs {
		if !s.SCTP {
			continue
		}
		if !slices.Contains(tests, s.Test) {
			tests = append(tests, s.Test)
		}
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	if len(tests) == 0 {
		return "", nil, nil
	}
	var skipped []string
	for _, s := range subs {
		if !slices.Contains(tests, s.Test) || !slices.Contains(names, s.Name) {
			continue
		}
		if !s.SCTP {
			return "", nil, fmt.Errorf("an SCTP skip by test and subtest name would also leave out %s, which probes no SCTP", s.Path())
		}
		skipped = append(skipped, s.Path())
	}
	return "/(" + alternation(tests) + ")/(" + alternation(names) + ")", skipped, nil
}

func alternation(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "^" + regexp.QuoteMeta(w) + "$"
	}
	return strings.Join(q, "|")
}

func stringField(lit *ast.CompositeLit, field string) string {
	for _, e := range lit.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if id, ok := kv.Key.(*ast.Ident); ok && id.Name == field {
			s, _ := stringLit(kv.Value)
			return s
		}
	}
	return ""
}

func stringLit(e ast.Expr) (string, bool) {
	b, ok := e.(*ast.BasicLit)
	if !ok || b.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(b.Value)
	return s, err == nil
}

// mentions reports whether a string literal equal to s occurs in n.
func mentions(n ast.Node, s string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if v, ok := stringLit(asExpr(n)); ok && v == s {
			found = true
		}
		return !found
	})
	return found
}

func asExpr(n ast.Node) ast.Expr {
	e, _ := n.(ast.Expr)
	return e
}
