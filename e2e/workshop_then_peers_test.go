package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/inputcheck"
	"github.com/netpol-e2e/harness/internal/peers"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/versions"
)

// TestPeers runs the peer suites on this run's cluster (-peers; make peers): the upstream
// Kubernetes Netpol specs and the network-policy-api conformance of the admin API the
// installed Calico enforces, then sets the workshop beside them. This file's name sorts
// after workshop_test.go and before workshop_upgrade_test.go, and go runs tests in that
// order: with the workshop selected, the peers run after it, on Calico A, before any
// upgrade.
func TestPeers(t *testing.T) {
	requireLive(t)
	if !*flagPeers {
		run.Environment["peer suites"] = "not run (-peers=false; make peers runs them)"
		t.Skip("the peer suites run with -peers (make peers)")
	}
	testenv.Test(t, peerFeatures()...)
}

// workshopSpan is when TestWorkshop ran and which report steps are its (for the
// comparison with the peers).
var workshopSpan struct {
	wall        time.Duration
	first, last int
}

// peerFeatures are TestPeers' subtests: each suite a feature whose setup delivers agnhost
// (the image its specs run) and whose assessment is the suite's own verdict per spec.
func peerFeatures() []features.Feature {
	var env peers.Env
	suite := func(name, image, assessment string, fn func(ctx context.Context) (*report.PeerSuite, error)) features.Feature {
		return checkFeature(name, assessment, func() *check.Check {
			return &check.Check{
				Name: name, Kind: "peer",
				Setup: func(ctx context.Context, _ *report.Step) error {
					env.Kubeconfig, env.Dir = kindC.Kubeconfig(), filepath.Join(reportDir(), "peers")
					env.SCTP, env.SCTPReason = peers.SCTPSupport()
					if err := deliverBuilt(ctx, image); err != nil {
						return fmt.Errorf("delivering %s: %w", image, err)
					}
					return nil
				},
				Assess: func(ctx context.Context, rs *report.Step) error {
					ps, err := fn(ctx)
					rs.Peer = ps
					return judgePeer(ps, err)
				},
			}
		})
	}
	var netpol *report.PeerSuite
	feats := []features.Feature{suite("peers-kubernetes-netpol", versions.AgnhostImage(versions.AgnhostNetpol),
		"every upstream Netpol spec passes on this cluster", func(ctx context.Context) (*report.PeerSuite, error) {
			var err error
			netpol, err = peers.Netpol(ctx, env)
			return netpol, err
		})}
	if api, err := versions.NetworkPolicyAPIFor(calicoVersion()); err == nil {
		feats = append(feats, suite("peers-network-policy-api", versions.AgnhostImage(versions.AgnhostConformance),
			"every conformance test of "+strings.Join(api.Profiles, ", ")+" passes", func(ctx context.Context) (*report.PeerSuite, error) {
				return peers.Conformance(ctx, env, api, calicoVersion())
			}))
	} else {
		run.Environment["network-policy-api conformance"] = "not run: " + err.Error()
	}
	feats = append(feats, checkFeature("peers-vs-workshop", "cells proven per minute, one cluster", func() *check.Check {
		return check.New("peers-vs-workshop", func(_ context.Context, rs *report.Step) error { return peerComparison(rs, netpol) })
	}))
	return feats
}

// judgePeer fails a suite's run on a failed spec, or on a run that produced no result.
func judgePeer(s *report.PeerSuite, err error) error {
	switch {
	case err != nil:
		return err
	case len(s.Specs) == 0:
		return errors.New("the suite ran no spec")
	case len(s.Failed()) > 0:
		var names []string
		for _, f := range s.Failed() {
			names = append(names, f.Name)
		}
		return fmt.Errorf("%d of %d specs failed: %s", len(names), len(s.Specs), strings.Join(names, "; "))
	}
	return nil
}

// peerComparison sets the workshop (when it ran in this run) beside the Netpol specs.
func peerComparison(st *report.Step, netpol *report.PeerSuite) error {
	st.Comparison = &report.PeerComparison{}
	if netpol == nil || netpol.Probes == 0 {
		return errors.New("the upstream Netpol suite logged no probe: nothing to compare")
	}
	if workshopSpan.wall > 0 {
		cells := 0
		for _, s := range run.Steps[workshopSpan.first:workshopSpan.last] {
			if s.Kind == "step" {
				cells += len(s.Results)
			}
		}
		st.Comparison.Rows = append(st.Comparison.Rows, report.ComparisonRow{Suite: "workshop: steps' truth tables, all of TestWorkshop", Cells: cells, Wall: workshopSpan.wall})
	} else {
		run.Environment["peers vs workshop"] = "the workshop did not run in this run: the upstream suite alone"
	}
	st.Comparison.Rows = append(st.Comparison.Rows, report.ComparisonRow{Suite: netpol.Title() + ": probes logged", Cells: netpol.Probes, Wall: netpol.Wall})
	return nil
}

// checkPeers: -peers needs the suites' binaries (built by make images PEERS=1), and a
// run that selects only TestPeers needs -peers.
func checkPeers(p *inputcheck.Problems, selected []string) {
	if !*flagPeers {
		if len(selected) == 1 && selected[0] == "TestPeers" {
			p.Add("-run selects only TestPeers, which runs with -peers: add -peers (make peers does)")
		}
		return
	}
	bins := []string{versions.NetpolE2EBinary()}
	if api, err := versions.NetworkPolicyAPIFor(calicoVersion()); err == nil {
		bins = append(bins, versions.ConformanceBinary(api.Module))
	}
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			p.Add("-peers: %s is missing (%v): run `make images PEERS=1`", b, err)
		}
	}
}
