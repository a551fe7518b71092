package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/kube"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/upgrade"
	"github.com/netpol-e2e/harness/internal/versions"
)

// restartOnlyNote is said in the output and the report whenever A and B are two builds
// of one source.
const restartOnlyNote = "restart-only baseline: A and B are two builds of the one Calico source the Go module proxy serves " +
	"(module " + versions.CalicoModule + "), with distinct version strings and image tags; the rollout, every " +
	"calico-node restart and the dataplane re-programming are real, a code change between versions is not exercised"

// offlineOrigin says where an offline Calico build's code comes from.
func offlineOrigin(version string) string {
	if a, ok := versions.CalicoSource(version); ok {
		return version + " (source archive " + a.File + ", commit " + a.Commit + ")"
	}
	return version + " (Go module github.com/projectcalico/calico@" + versions.CalicoModule + ")"
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
	path := upgradePath()
	from := path[0]
	note := ""
	if builtHere() {
		var origins []string
		for _, v := range path {
			origins = append(origins, offlineOrigin(v))
		}
		note = *flagImageSource + ": " + strings.Join(origins, " -> ")
		if to := path[1]; len(path) == 2 && (strings.HasPrefix(to, from+"-") || strings.HasPrefix(from, to+"-")) {
			note = restartOnlyNote
		}
	}
	end := endStep()
	endName := scen.Steps[end].Name
	spec := func(name, a, b string, manifest []*unstructured.Unstructured) upgrade.Spec {
		return upgrade.Spec{
			Name: name, From: a, To: b, Note: note, Manifest: manifest, Interval: *flagUpgradeInterval, ProbeTimeout: *flagUpgradeTimeout,
			GapBudget: *flagUpgradeGapBudget, HoleBudget: *flagUpgradeHole,
			Hold: upgrade.HoldSpec{Interval: *flagConnInterval, ReplyBudget: *flagReplyBudget, Disruptions: *flagConnDisruptions}, Tail: *flagUpgradeTail, Timeout: 10 * time.Minute,
		}
	}
	manifests := map[string][]*unstructured.Unstructured{}
	var feats []features.Feature
	// Setup: every manifest read and every later version's images where the nodes get
	// them, before anything is rolled.
	feats = append(feats, checkFeature("upgrade-prepare", "every Calico manifest loads; each later version's images are where the nodes get them", func() *check.Check {
		return check.New("upgrade-prepare", func(ctx context.Context, rs *report.Step) error {
			if note != "" {
				run.Environment["upgrade path"] = note
			}
			for i, v := range path {
				if _, ok := manifests[v]; ok {
					continue
				}
				src := *flagUpgradeManifest
				if i == 0 {
					src = *flagCalicoManifest
				}
				m, err := calicoObjects(ctx, v, src)
				if err != nil {
					return err
				}
				manifests[v] = m
				if i == 0 {
					continue // installed by TestMain
				}
				did, err := deliverCalico(ctx, v)
				if did != nil {
					rs.Images = append(rs.Images, *did)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}))
	// The scenario to its end state, every step verified.
	for i := 0; i <= end; i++ {
		feats = append(feats, checkFeature("upgrade-"+scen.Steps[i].Name, "matrix", func() *check.Check { return upgradeStep(i) }))
	}
	// The policy steps replayed on each version, each compared with the one before it.
	var replayed *report.Replay
	replays := 0
	replay := func(version string) {
		if !*flagEnforceReplay {
			return
		}
		name := fmt.Sprintf("enforce-replay-%d-%s", replays, version)
		replays++
		feats = append(feats, checkFeature(name, "each policy step deleted and applied again on the end state, its changed cells timed", func() *check.Check {
			c := h.ReplayEnforcement(end, name, versions.CalicoLabel(version))
			replayOnly := c.Assess
			// Then compared with the replay before it.
			c.Assess = func(ctx context.Context, rs *report.Step) error {
				err := replayOnly(ctx, rs)
				prev := replayed
				replayed = rs.Replay
				if err != nil || rs.Failed() || prev == nil {
					return err
				}
				rs.Compared = []*report.Replay{prev, rs.Replay}
				return harness.CompareEnforcement(prev, rs.Replay, harness.SlowdownBudget{Factor: *flagSlowFactor, Min: *flagSlowMin})
			}
			return c
		}))
	}
	replay(path[0])
	forms := migrationForms(path)
	if len(forms) > 0 {
		feats = append(feats, checkFeature("upgrade-admin-migrate", "the admin policies also in the form each later version enforces; the end state unchanged",
			func() *check.Check {
				return changeAdminForms(end, "upgrade-admin-migrate", forms, "", false, manifests)
			}))
	}
	roll := func(name, a, b string, control []string) {
		// The rollout is made when it runs: from the manifest upgrade-prepare loaded.
		feats = append(feats, checkFeature(name, "no denied cell leaks, no allowed cell goes down, every cell probed throughout", func() *check.Check {
			return check.Later(name, "check", func() (*check.Check, error) {
				var manifest []*unstructured.Unstructured
				if control == nil {
					if manifest = manifests[b]; manifest == nil {
						return nil, fmt.Errorf("no manifest of %s (upgrade-prepare failed)", b)
					}
				}
				s := spec(name, a, b, manifest)
				s.Inject = control
				if control != nil {
					s.Hold.RestartServer = *flagConnControl
				}
				return upgrade.Rollout(h, end, s), nil
			})
		}))
		feats = append(feats, checkFeature(name+"-end-state", "the end-state matrix again, DNS and external included", func() *check.Check { return h.Verify(end, "after-"+name+"-"+endName) }))
		// The rolled-out calico-node still programs the dataplane asked for, on every node.
		feats = append(feats, dataplaneFeature(name+"-"))
		if control == nil {
			replay(b)
		}
	}
	// Each hop with every check; -upgrade-path names them, else A -> B and back.
	for i := 1; i < len(path); i++ {
		roll(hopName(path, i), path[i-1], path[i], nil)
	}
	last := path[len(path)-1]
	// The documented break, caught: A -> B with only A's admin form, B -> A with only B's.
	if len(forms) > 0 && *flagUpgradePath == "" && !*flagAdminLoss {
		run.Environment["admin policies' loss across v3.32"] = "not checked in this run (-upgrade-admin-loss=false)"
	}
	if a, b := path[0], path[1]; len(forms) > 0 && *flagUpgradePath == "" && *flagAdminLoss {
		apiA, apiB := adminAPI(a), adminAPI(b)
		lose := func(name, from, to string) {
			feats = append(feats, checkFeature(name, "the admin policies not enforced by "+to+": exactly the predicted cells change, and stay changed", func() *check.Check {
				return check.Later(name, "check", func() (*check.Check, error) {
					s := spec(name, from, to, manifests[to])
					s.LosesAdmin = true
					return upgrade.Rollout(h, end, s), nil
				})
			}))
		}
		feats = append(feats, checkFeature("upgrade-admin-loss-prepare", "only "+a+"'s admin form left; the end state unchanged",
			func() *check.Check {
				return changeAdminForms(end, "upgrade-admin-loss-prepare", nil, apiB, false, manifests)
			}))
		lose("upgrade-admin-loss", a, b)
		feats = append(feats, checkFeature("upgrade-admin-loss-repair", "the form "+b+" enforces applied, "+a+"'s deleted; the end state again",
			func() *check.Check {
				return changeAdminForms(end, "upgrade-admin-loss-repair", map[string]string{apiB: b}, apiA, true, manifests)
			}))
		lose("downgrade-admin-loss", b, a)
		feats = append(feats, checkFeature("downgrade-admin-loss-repair", a+"'s form applied again; the end state again",
			func() *check.Check {
				return changeAdminForms(end, "downgrade-admin-loss-repair", map[string]string{apiA: a}, "", true, manifests)
			}))
	}
	if *flagUpgradeControl != "" {
		roll("upgrade-control", last, last, strings.Split(*flagUpgradeControl, ","))
	}
	// Leave the cluster as TestWorkshop expects it: no app.
	for i := end + 1; i < len(scen.Steps); i++ {
		feats = append(feats, checkFeature("upgrade-"+scen.Steps[i].Name, "cleanup", func() *check.Check { return upgradeStep(i) }))
	}
	feats = append(feats, checkFeature("calico-health-upgrade", "calico pods neither restarted nor logged unexplained errors since the last rollout", func() *check.Check { return h.CalicoHealth("calico-health-upgrade") }))
	return feats
}

// upgradeStep is workshop step i as TestUpgrade runs it (its report named upgrade-...).
func upgradeStep(i int) *check.Check {
	c := h.Step(i)
	c.Name = "upgrade-" + c.Name
	return c
}

// hopName names hop i of a path: "upgrade" and "downgrade" for A -> B -> A, else
// "upgrade-FROM-to-TO".
func hopName(path []string, i int) string {
	if *flagUpgradePath == "" {
		return map[int]string{1: "upgrade", 2: "downgrade"}[i]
	}
	return "upgrade-" + path[i-1] + "-to-" + path[i]
}

// calicoObjects loads a version's manifest (offline build, upstream release or given file).
func calicoObjects(ctx context.Context, version, src string) ([]*unstructured.Unstructured, error) {
	src, data, err := calicoManifest(ctx, version, src)
	if err != nil {
		return nil, err
	}
	return kube.DecodeYAML(src, data)
}

// migrationForms are the admin forms a path needs beyond the installed one, each with the
// first version of the path that enforces it: crossing v3.32 (ANP and BANP no longer
// enforced, ClusterNetworkPolicy instead), or back.
func migrationForms(path []string) map[string]string {
	from := adminAPI(path[0])
	forms := map[string]string{}
	for _, v := range path[1:] {
		if api := adminAPI(v); from != "" && api != "" && api != from && forms[api] == "" {
			forms[api] = v
		}
	}
	return forms
}

// changeAdminForms applies the admin forms of apply (each api with the version whose
// manifest carries its CRDs, which the installed release may lack) and deletes the form
// remove, then verifies the end state (restores: after an admin loss): the documented
// migration (both forms side by side, so every calico-node, old or new, finds the one it
// knows) and the loss checks' setup.
func changeAdminForms(end int, name string, apply map[string]string, remove string, restores bool, manifests map[string][]*unstructured.Unstructured) *check.Check {
	verify := h.Verify
	if restores {
		// After an admin loss: the cells the loss changed come back as the form applied
		// is enforced; every other cell is judged at once.
		verify = h.VerifyAdminRestored
	}
	c := verify(end, name)
	c.Setup = func(ctx context.Context, rs *report.Step) error {
		forms := &report.AdminForms{}
		rs.AdminForms = forms
		for api, version := range apply {
			var crds []*unstructured.Unstructured
			for _, u := range manifests[version] {
				if group, _, _ := unstructured.NestedString(u.Object, "spec", "group"); u.GetKind() == "CustomResourceDefinition" && group == "policy.networking.k8s.io" {
					crds = append(crds, u)
				}
			}
			if len(crds) == 0 {
				return fmt.Errorf("the manifest of %s carries no CustomResourceDefinition of policy.networking.k8s.io: nothing to install %s from", version, api)
			}
			if err := h.Kube.Apply(ctx, crds...); err != nil {
				return err
			}
			objs := scen.AdminForm(api)
			// A new CRD is served a moment after it is created: only "no such kind" is
			// waited out.
			err := kube.Poll(ctx, time.Second, time.Minute, "the "+api+" admin policies applied", func(ctx context.Context) (bool, string, error) {
				err := h.Apply(ctx, objs)
				if err != nil && meta.IsNoMatchError(err) {
					return false, err.Error(), nil
				}
				return err == nil, "", err
			})
			if err != nil {
				return err
			}
			var names []string
			for _, u := range crds {
				names = append(names, u.GetName())
			}
			forms.Applied = append(forms.Applied, report.AdminForm{API: api, Objects: len(objs), CRDs: names, From: version})
		}
		if remove != "" {
			objs := scen.AdminForm(remove)
			us, err := harness.Unstructured(objs)
			if err != nil {
				return err
			}
			if err := h.Kube.Delete(ctx, us...); err != nil {
				return err
			}
			forms.Deleted = &report.AdminForm{API: remove, Objects: len(objs)}
		}
		return nil
	}
	return c
}
