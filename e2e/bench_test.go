package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/netpol-e2e/harness/internal/bench"
	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/versions"
)

// BenchmarkScale is the scale benchmark (`make bench`; a benchmark, not a test: `make e2e`
// does not run it): N sources x 8 targets for each -bench-sizes, rounds through the probe
// sessions, round time (median, worst), the harness's CPU and memory, as a table in the
// report and an SVG plot (bench.svg) of round time against N.
func BenchmarkScale(b *testing.B) {
	sizes, err := parseSizes(*flagBenchSizes)
	if err != nil {
		b.Fatal(err)
	}
	var points []report.BenchPoint
	rs := check.New("bench-scale", func(ctx context.Context, rs *report.Step) (err error) {
		points, err = bench.Scale(ctx, h, sizes, *flagBenchTargets, *flagBenchRounds)
		rs.Scale = &report.Scale{Rounds: *flagBenchRounds, Points: points}
		return err
	}).Run(context.Background())
	run.Steps = append(run.Steps, rs)
	b.Log("\n" + rs.Text())
	if len(points) > 0 {
		if werr := os.WriteFile(filepath.Join(reportDir(), "bench.svg"), []byte(report.BenchSVG(points)), 0o644); werr != nil {
			b.Error(werr)
		}
		for _, p := range points {
			b.ReportMetric(p.Median.Seconds(), fmt.Sprintf("s/round@%d", p.Sources))
		}
	}
	if rs.Failed() {
		failed = true
		b.Fatal(rs.Failure)
	}
}

// BenchmarkEnforcement is the enforcement-latency benchmark (`make bench`): for each N of
// -bench-policies, N policies applied one after another in a namespace of its own, each
// admitting -bench-policy-sources sources to one more target, every cell they open timed
// at 100 ms from its own policy's apply; p50/p95/max over all of them and over the last
// policy's (with N-1 already on the nodes).
func BenchmarkEnforcement(b *testing.B) {
	counts, err := parseSizes(*flagBenchPolicies)
	if err != nil {
		b.Fatal(err)
	}
	var points []report.EnforcePoint
	rs := check.New("bench-enforcement", func(ctx context.Context, rs *report.Step) (err error) {
		points, err = bench.Enforcement(ctx, h, *flagBenchPolSources, counts)
		rs.EnforceBench = &report.EnforceBench{Sources: *flagBenchPolSources, Calico: versions.CalicoLabel(calicoVersion()), Dataplane: *flagDataplane, Points: points}
		return err
	}).Run(context.Background())
	run.Steps = append(run.Steps, rs)
	b.Log("\n" + rs.Text())
	for _, p := range points {
		_, p95, _, _ := p.All.Quantiles()
		b.ReportMetric(p95.Seconds(), fmt.Sprintf("s-p95@%dpolicies", p.Policies))
	}
	if rs.Failed() {
		failed = true
		b.Fatal(rs.Failure)
	}
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-bench-sizes=%q: want comma-separated source counts, e.g. 6,12,25,50", s)
		}
		out = append(out, n)
	}
	return out, nil
}
