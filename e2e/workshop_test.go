package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/netpol-e2e/harness/internal/bench"
	"github.com/netpol-e2e/harness/internal/browser"
	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/cluster"
	"github.com/netpol-e2e/harness/internal/docker"
	"github.com/netpol-e2e/harness/internal/uicheck"
)

// checkFeature is one check as an e2e-framework feature, one subtest and one JUnit case:
// its setup, its assessment (named), and its teardown, which runs also after a failed
// setup or assessment and records the check's step. The check is made as its setup
// begins: the harness it runs on exists only once TestMain's setup has run, and
// checkInput reads the features' names before that.
func checkFeature(name, assessment string, build func() *check.Check) features.Feature {
	var c *check.Check
	return features.New(name).
		Setup(func(ctx context.Context, _ *testing.T, _ *envconf.Config) context.Context {
			c = build()
			c.RunSetup(ctx)
			return ctx
		}).
		Assess(assessment, func(ctx context.Context, _ *testing.T, _ *envconf.Config) context.Context {
			c.RunAssess(ctx)
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			record(t, c.RunTeardown(ctx))
			return ctx
		}).Feature()
}

// TestWorkshop runs the workshop's steps in order, one feature (and one JUnit case) per
// step, with the controls at the points the workshop makes its claims.
func TestWorkshop(t *testing.T) {
	requireLive(t)
	if !*flagUICheck {
		run.Environment["management UI check"] = "not run (-ui-check=false)"
	}
	start, first := time.Now(), len(run.Steps)
	testenv.Test(t, workshopFeatures()...)
	workshopSpan.wall, workshopSpan.first, workshopSpan.last = time.Since(start), first, len(run.Steps)
}

// workshopFeatures are TestWorkshop's subtests, in order (checkInput reads their names).
func workshopFeatures() []features.Feature {
	var feats []features.Feature
	// A control: setup applies the variant, assess requires exactly the predicted cells,
	// teardown restores the originals (also after a failed assessment) and reports.
	control := func(name string, i int, variant string) features.Feature {
		return checkFeature(name, "the live matrix changes exactly as the evaluator predicts", func() *check.Check { return h.Control(name, i, filepath.Join(repoRoot, variant)) })
	}
	for i := range scen.Steps {
		name := scen.Steps[i].Name
		feats = append(feats, checkFeature(name, "matrix", func() *check.Check { return h.Step(i) }))
		if i == 0 {
			// The dataplane is the one asked for, on every node, with the app's pods deployed.
			feats = append(feats, dataplaneFeature(""))
		}
		switch name {
		case "12-backend-guardrail":
			// The admin layer's controls: a mutated guardrail is seen on exactly its cells.
			dir := "policies/controls/admin/" + scen.AdminAPI + "/"
			feats = append(feats,
				control("12-control-admin-priorities-swapped", i, dir+"backend-priorities-swapped.yaml"),
				control("12-control-admin-pass-instead-of-deny", i, dir+"backend-lockdown-pass.yaml"))
		case "06-pci-policy":
			// The workshop: without port 53, pods cannot resolve DNS names.
			feats = append(feats, control("06-control-pci-without-dns", i, "policies/controls/pci-policy-without-dns.yaml"))
		case "08-payments-policy":
			// The harness can fail: it reports exactly the cells a wrong policy changes.
			feats = append(feats, control("08-self-check-wrong-policy", i, "policies/controls/backend-policy-wrong-port.yaml"))
			if dual() {
				// Each family is really probed over itself: an ipBlock that denies one of
				// the external host's addresses changes exactly that family's cell.
				feats = append(feats,
					control("08-control-ipblock-ipv6", i, "policies/controls/frontend-egress-without-external-ipv6.yaml"),
					control("08-control-ipblock-ipv4", i, "policies/controls/frontend-egress-without-external-ipv4.yaml"))
			}
			if *flagPerfRounds > 0 {
				feats = append(feats, checkFeature("08-perf", "one exec per source vs one exec per cell", func() *check.Check { return bench.Perf(h, i, *flagPerfRounds) }))
			}
			// The workshop's visual: the management UI, in a real browser, draws what the
			// harness observes.
			if *flagUICheck {
				feats = append(feats, checkFeature("08-management-ui-in-browser", "headless Chromium shows the observed matrix's arrows", func() *check.Check { return uicheck.Check(h, i, locateUI) }))
			}
			if *flagSoak > 0 {
				feats = append(feats, checkFeature("08-soak", "repeated full rounds never mismatch", func() *check.Check { return h.Soak(i, *flagSoak) }))
			}
		}
	}
	// Calico's own health over the whole workshop: no restart, no unready pod, no error
	// line outside the allowlist.
	feats = append(feats, checkFeature("calico-health-workshop", "calico pods neither restarted nor logged unexplained errors", func() *check.Check { return h.CalicoHealth("calico-health-workshop") }))
	return feats
}

// locateUI finds Chromium and a node address for the UI's NodePort.
func locateUI(ctx context.Context) (nodeIP, chromium string, err error) {
	if chromium, err = browser.Executable(os.Getenv("NETPOL_CHROMIUM")); err != nil {
		return "", "", err
	}
	nodeIP, err = docker.ContainerIP(ctx, *flagClusterName+"-control-plane", cluster.Network)
	return nodeIP, chromium, err
}

// dataplaneFeature proves the dataplane asked for on every node (prefix names the point
// of the run: "" after the first deploy, an upgrade's rollout after it).
func dataplaneFeature(prefix string) features.Feature {
	dp := dataplane()
	name := prefix + "dataplane-" + string(dp)
	return checkFeature(name, dp.Evidence(bpfAttach())+", on every node", func() *check.Check { return h.Dataplane(name, dp) })
}
