package e2e

import (
	"context"
	"path/filepath"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
)

// TestWorkshop runs the workshop's steps in order, one feature (and one JUnit case) per
// step, with the controls at the points the workshop makes its claims.
func TestWorkshop(t *testing.T) {
	requireLive(t)
	var feats []features.Feature
	for i := range scen.Steps {
		name := scen.Steps[i].Name
		feats = append(feats, features.New(name).
			Assess("matrix", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
				record(t, h.RunStep(ctx, i))
				return ctx
			}).Feature())
		switch name {
		case "06-pci-policy":
			// The workshop: without port 53, pods cannot resolve DNS names.
			feats = append(feats, features.New("06-control-pci-without-dns").
				Assess("dns fails without the port 53 rule, and comes back", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
					record(t, h.Control(ctx, "06-control-pci-without-dns", i, filepath.Join(repoRoot, "policies/controls/pci-policy-without-dns.yaml")))
					return ctx
				}).Feature())
		case "08-payments-policy":
			feats = append(feats, features.New("08-self-check-wrong-policy").
				Assess("the harness reports exactly the cells a wrong policy changes", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
					record(t, h.Control(ctx, "08-self-check-wrong-policy", i, filepath.Join(repoRoot, "policies/controls/backend-policy-wrong-port.yaml")))
					return ctx
				}).Feature())
			if *flagPerfRounds > 0 {
				feats = append(feats, features.New("08-perf").
					Assess("one exec per source vs one exec per cell", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
						record(t, h.Perf(ctx, i, *flagPerfRounds))
						return ctx
					}).Feature())
			}
			if *flagSoak > 0 {
				feats = append(feats, features.New("08-soak").
					Assess("repeated full rounds never mismatch", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
						record(t, h.Soak(ctx, i, *flagSoak))
						return ctx
					}).Feature())
			}
		}
	}
	testenv.Test(t, feats...)
}
