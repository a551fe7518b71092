package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/images"
	"github.com/netpol-e2e/harness/internal/kube"
	"github.com/netpol-e2e/harness/internal/report"
)

// restartOnlyNote is said in the output and the report whenever A and B are two builds
// of one source.
const restartOnlyNote = "restart-only baseline: A and B are two builds of the one Calico source the Go module proxy serves " +
	"(module " + images.CalicoModule + "), with distinct version strings and image tags; the rollout, every " +
	"calico-node restart and the dataplane re-programming are real, a code change between versions is not exercised"

// offlineOrigin says where an offline Calico build's code comes from.
func offlineOrigin(version string) string {
	if a, ok := images.CalicoSource(version); ok {
		return version + " (source archive " + a.File + ", commit " + a.Commit + ")"
	}
	return version + " (Go module github.com/projectcalico/calico@" + images.CalicoModule + ")"
}

// TestUpgrade: install A (TestMain did), run the scenario to its end state, roll Calico to
// B while every cell is probed continuously, check the end state again, roll back to A
// the same way, then prove the suite can fail: a third rollout (calico-node restarted in
// place) during which two policies are deleted for a moment must be reported as exactly
// their leak.
func TestUpgrade(t *testing.T) {
	requireLive(t)
	testenv.Test(t, upgradeFeatures()...)
}

// upgradeFeatures are TestUpgrade's subtests, in order (checkInput reads their names).
func upgradeFeatures() []features.Feature {
	from, to := calicoVersion(), upgradeTarget()
	note := ""
	if builtHere() {
		note = *flagImageSource + ": A = " + offlineOrigin(from) + ", B = " + offlineOrigin(to)
		if strings.HasPrefix(to, from+"-") || strings.HasPrefix(from, to+"-") {
			note = restartOnlyNote
		}
	}
	end := endStep()
	endName := scen.Steps[end].Name
	spec := func(name, a, b string, manifest []*unstructured.Unstructured) harness.RolloutSpec {
		return harness.RolloutSpec{
			Name: name, From: a, To: b, Note: note, Manifest: manifest, Interval: *flagUpgradeInterval, ProbeTimeout: *flagUpgradeTimeout,
			GapBudget: *flagUpgradeGapBudget, HoleBudget: *flagUpgradeHole,
			Hold: harness.HoldSpec{Interval: *flagConnInterval, ReplyBudget: *flagReplyBudget, Disruptions: *flagConnDisruptions}, Tail: *flagUpgradeTail, Timeout: 10 * time.Minute,
		}
	}
	var manA, manB []*unstructured.Unstructured
	var feats []features.Feature
	// Setup: both manifests read and B's images in every node before anything is rolled.
	feats = append(feats, feature("upgrade-prepare", "both Calico manifests load; version B's images are where the nodes get them", func(ctx context.Context) *report.Step {
		rs := &report.Step{Name: "upgrade-prepare", Kind: "check"}
		t0 := time.Now()
		var err error
		if manA, err = calicoObjects(ctx, from, *flagCalicoManifest); err == nil {
			manB, err = calicoObjects(ctx, to, *flagUpgradeManifest)
		}
		if err == nil {
			var did string
			if did, err = deliverCalico(ctx, to); did != "" {
				rs.Notes = append(rs.Notes, "version B: "+did)
			}
		}
		if note != "" {
			rs.Notes = append(rs.Notes, note)
		}
		if err != nil {
			rs.Failure = err.Error()
		}
		rs.Duration = time.Since(t0)
		return rs
	}))
	// The scenario to its end state, every step verified.
	for i := 0; i <= end; i++ {
		feats = append(feats, feature("upgrade-"+scen.Steps[i].Name, "matrix", func(ctx context.Context) *report.Step {
			rs := h.RunStep(ctx, i)
			rs.Name = "upgrade-" + rs.Name
			return rs
		}))
	}
	roll := func(name, a, b string, manifest func() []*unstructured.Unstructured, control []string) {
		feats = append(feats, feature(name, "no denied cell leaks, no allowed cell goes down, every cell probed throughout", func(ctx context.Context) *report.Step {
			s := spec(name, a, b, manifest())
			s.Inject = control
			if control != nil {
				s.Hold.RestartServer = *flagConnControl
			}
			if s.Manifest == nil && control == nil {
				return &report.Step{Name: name, Kind: "check", Failure: "no manifest (upgrade-prepare failed)"}
			}
			return h.Rollout(ctx, end, s)
		}))
		feats = append(feats, feature(name+"-end-state", "the end-state matrix again, DNS and external included", func(ctx context.Context) *report.Step {
			return h.Verify(ctx, end, "after-"+name+"-"+endName)
		}))
		// The rolled-out calico-node still programs the dataplane asked for, on every node.
		dp := calico.Dataplane(*flagDataplane)
		feats = append(feats, feature(name+"-dataplane-"+string(dp), "Calico's and kube-proxy's rules are in "+string(dp)+" on every node, none in the other", func(ctx context.Context) *report.Step {
			return h.CheckDataplane(ctx, name+"-dataplane-"+string(dp), dp)
		}))
	}
	roll("upgrade", from, to, func() []*unstructured.Unstructured { return manB }, nil)
	roll("downgrade", to, from, func() []*unstructured.Unstructured { return manA }, nil)
	if *flagUpgradeControl != "" {
		roll("upgrade-control", from, from, func() []*unstructured.Unstructured { return nil }, strings.Split(*flagUpgradeControl, ","))
	}
	// Leave the cluster as TestWorkshop expects it: no app.
	for i := end + 1; i < len(scen.Steps); i++ {
		feats = append(feats, feature("upgrade-"+scen.Steps[i].Name, "cleanup", func(ctx context.Context) *report.Step {
			rs := h.RunStep(ctx, i)
			rs.Name = "upgrade-" + rs.Name
			return rs
		}))
	}
	feats = append(feats, feature("calico-health-upgrade", "calico pods neither restarted nor logged unexplained errors since the last rollout", func(ctx context.Context) *report.Step {
		return h.CheckCalicoHealth(ctx, "calico-health-upgrade")
	}))
	return feats
}

// calicoObjects loads a version's manifest (offline build, upstream release or given file).
func calicoObjects(ctx context.Context, version, src string) ([]*unstructured.Unstructured, error) {
	src, data, err := calicoManifest(ctx, version, src)
	if err != nil {
		return nil, err
	}
	return kube.DecodeYAML(src, data)
}
