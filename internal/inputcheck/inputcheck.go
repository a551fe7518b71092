// Package inputcheck holds the checks of a live run's options that need no cluster: value
// ranges, environment variable names, option combinations, and whether a -run pattern
// selects any test. e2e's TestMain runs them before any cluster work; each error names the
// flag (or variable) and what to do.
package inputcheck

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Problems collects every bad option, so one run reports them all at once.
type Problems []string

// Add records a problem.
func (p *Problems) Add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// Err is nil when there is no problem.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New("bad options:\n  " + strings.Join(p, "\n  "))
}

// AtLeast requires an integer flag to be at least minimum.
func (p *Problems) AtLeast(flag string, v, minimum int, why string) {
	if v < minimum {
		p.Add("-%s=%d: must be at least %d (%s)", flag, v, minimum, why)
	}
}

// Positive requires a duration flag above zero; NonNegative allows zero.
func (p *Problems) Positive(flag string, d time.Duration) {
	if d <= 0 {
		p.Add("-%s=%s: must be above 0", flag, d)
	}
}

// NonNegative requires a duration flag of zero or more.
func (p *Problems) NonNegative(flag string, d time.Duration) {
	if d < 0 {
		p.Add("-%s=%s: must not be negative", flag, d)
	}
}

// WritableDir requires a directory flag to name a directory that exists or can be made and
// can be written, so that a run does not fail at its end, unable to write its report.
func (p *Problems) WritableDir(flag, given, dir string) {
	if strings.TrimSpace(given) == "" {
		p.Add("-%s is empty: name a directory", flag)
		return
	}
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		var f *os.File
		if f, err = os.CreateTemp(dir, ".write-check"); err == nil {
			f.Close()
			err = os.Remove(f.Name())
		}
	}
	if err != nil {
		p.Add("-%s=%s: cannot write there (%v): choose a writable directory", flag, given, err)
	}
}

// AtLeastDuration requires a duration flag to be at least another's value (name says which).
func (p *Problems) AtLeastDuration(flag string, v time.Duration, other string, minimum time.Duration, why string) {
	if v < minimum {
		p.Add("-%s=%s is below -%s=%s: %s", flag, v, other, minimum, why)
	}
}

// NeedsFor requires a flag to be set (on) when another's feature is asked for: e.g. held
// connections (-upgrade-conn-interval above 0) for the connection control.
func (p *Problems) NeedsFor(on bool, flag, value, forFlag, forValue, fix string) {
	if !on && forValue != "" {
		p.Add("-%s=%s: -%s=%s cannot run without it: %s", flag, value, forFlag, forValue, fix)
	}
}

// Timeout requires a -test.timeout (0: none) to leave reserve for the cleanup and at least
// minimum for the run.
func (p *Problems) Timeout(d, reserve, minimum time.Duration) {
	if d > 0 && d < reserve+minimum {
		p.Add("-test.timeout=%s: a live run needs at least %s, and %s more is kept for the cleanup: give at least %s (make e2e E2E_TIMEOUT=...)", d, minimum, reserve, reserve+minimum)
	}
}

// FlagOverEnv says, for every flag given on the command line (set: name -> value) whose
// NETPOL_ variable (known to the run) is set to another value, that the flag won.
func FlagOverEnv(set map[string]string, environ, known []string) []string {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(set)) {
		e := "NETPOL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if v, ok := env[e]; ok && slices.Contains(known, e) && v != set[name] {
			out = append(out, fmt.Sprintf("-%s=%s is used, not %s=%s (a flag wins over its environment variable)", name, set[name], e, v))
		}
	}
	return out
}

// dnsLabel is what kind accepts as a cluster name (it names containers and a context).
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ClusterName checks a kind cluster name.
func (p *Problems) ClusterName(flag, name string) {
	if !dnsLabel.MatchString(name) || len(name) > 50 {
		p.Add("-%s=%q: a kind cluster name is lower-case letters, digits and '-', starting and ending with a letter or digit, at most 50 characters", flag, name)
	}
}

// UnknownEnv reports NETPOL_* variables that no option reads (a misspelling is otherwise
// silently ignored), listing the valid names.
func UnknownEnv(environ, known []string) error {
	var bad []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "NETPOL_") && !slices.Contains(known, name) {
			bad = append(bad, name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	k := slices.Clone(known)
	slices.Sort(k)
	return fmt.Errorf("unknown environment variable(s) %s: the valid names are %s", strings.Join(bad, ", "), strings.Join(k, " "))
}

// Selected returns the tests a `go test -run` pattern selects at the top level (the part
// before the first '/'), or an error when it selects none: a green run that tested nothing.
func Selected(pattern string, tests []string) ([]string, error) {
	if pattern == "" {
		return tests, nil
	}
	top, _, _ := strings.Cut(pattern, "/")
	re, err := regexp.Compile(top)
	if err != nil {
		return nil, fmt.Errorf("-run=%q: %w", pattern, err)
	}
	var out []string
	for _, t := range tests {
		if re.MatchString(t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-run=%q selects no test (the live tests are %s): the run would pass having tested nothing", pattern, strings.Join(tests, ", "))
	}
	return out, nil
}

// Environ is os.Environ, here so tests can pass their own.
var Environ = os.Environ

// Test is a test or subtest and its subtests, named as the code names them (go test
// rewrites spaces to underscores).
type Test struct {
	Name string
	Subs []Test
}

// RunsAny reports whether `go test -run run -skip skip` runs at least one leaf of tests,
// matching as the testing package does: each slash-separated element of -run must match
// the name at its level, and a subtree is skipped where every element of -skip matches.
func RunsAny(run, skip string, tests []Test) (bool, error) {
	filter, err := compilePattern("-run", run)
	if err != nil {
		return false, err
	}
	skipper, err := compilePattern("-skip", skip)
	if err != nil {
		return false, err
	}
	var walk func(path []string, t Test) bool
	walk = func(path []string, t Test) bool {
		path = append(path, strings.ReplaceAll(t.Name, " ", "_"))
		if ok, _ := filter.matches(path); !ok {
			return false
		}
		if s, partial := skipper.matches(path); skipper != nil && s && !partial {
			return false
		}
		if len(t.Subs) == 0 {
			return true
		}
		return slices.ContainsFunc(t.Subs, func(s Test) bool { return walk(slices.Clone(path), s) })
	}
	return slices.ContainsFunc(tests, func(t Test) bool { return walk(nil, t) }), nil
}

// pattern is a -run or -skip pattern split into its levels (nil: none given).
type pattern []*regexp.Regexp

func compilePattern(flag, p string) (pattern, error) {
	if p == "" {
		return nil, nil
	}
	var out pattern
	for _, e := range splitLevels(p) {
		re, err := regexp.Compile(e)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", flag, p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// matches is the testing package's rule: every element of the pattern that the path
// reaches must match; partial says the path is shorter than the pattern.
func (p pattern) matches(path []string) (ok, partial bool) {
	for i, name := range path {
		if i >= len(p) {
			break
		}
		if !p[i].MatchString(name) {
			return false, false
		}
	}
	return true, len(path) < len(p)
}

// splitLevels splits a pattern at the slashes outside brackets and parentheses.
func splitLevels(p string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case '\\':
			i++
		case '/':
			if depth == 0 {
				out = append(out, p[start:i])
				start = i + 1
			}
		}
	}
	return append(out, p[start:])
}
