package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/cluster"
	"github.com/netpol-e2e/harness/internal/docker"
	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/imagebuild"
	"github.com/netpol-e2e/harness/internal/inputcheck"
	"github.com/netpol-e2e/harness/internal/kube"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/upgrade"
	"github.com/netpol-e2e/harness/internal/versions"
)

const repoRoot = ".."

// externalContainer is the external host's container, named after the cluster: a run on
// another cluster leaves this one's alone.
func externalContainer() string { return *flagClusterName + "-external" }

// Suite state, owned by TestMain.
var (
	testenv env.Environment
	kindC   *cluster.Kind
	h       *harness.Harness
	run     = &report.Run{Suite: "netpol-e2e", Environment: map[string]string{}, Timings: map[string]string{}}
	scen    *scenario.Scenario
	// logAllowlist: calico error log lines that do not fail the run (data, with reasons).
	logAllowlist calico.Allowlist
)

// Exit statuses of the test binary (make e2e runs it directly; go test reports any of them
// as 1): a failed test is 1, as always.
const (
	exitBadInput = 3 // a flag, an environment variable or a data file: fix the input
	exitNoDocker = 4 // no Docker engine answers: start one (scripts/bootstrap-host.sh)
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: -short: the live suite needs a cluster and does not run in unit mode (make e2e runs it)")
		os.Exit(m.Run())
	}
	if err := checkInput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: bad input, nothing was started (exit status %d):\n%v\n", exitBadInput, err)
		os.Exit(exitBadInput)
	}
	if err := docker.Answering(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v (exit status %d)\n", err, exitNoDocker)
		os.Exit(exitNoDocker)
	}
	run.Started = time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	onInterrupt(cancel)

	testenv = env.NewWithConfig(envconf.New()).WithContext(ctx)
	testenv.Setup(
		// Create (or reuse) the kind cluster through the kind library.
		step("cluster", createCluster),
		// Start the local registry and make it every node's mirror (and, in the
		// rehearsal, serve Calico's release manifests on the loopback).
		step("mirror", startMirror),
		// With -measure-delivery: Calico A's and B's images onto the nodes, kind load vs
		// the registry, each from nothing.
		step("image-delivery", measureDelivery),
		// Install Calico from the chosen manifest and wait for it and for every node.
		step("calico", installCalico),
		// The demo image onto every node (built here whatever the image source).
		step("images", deliverStar),
		// Start the host outside the cluster: our own container on kind's network.
		step("external-host", startExternal),
		// Connect the harness.
		step("harness", connectHarness),
	)
	testenv.Finish(
		// Report first, so a failing teardown cannot lose it.
		step("report", writeReport),
		// On failure, kind's logs (every node, calico-node included) and the policies.
		step("logs", exportLogsOnFailure),
		step("external-host-down", stopExternal),
		// Stop the local registry (it and its volume stay for the next run).
		step("mirror-down", stopMirror),
		// End the probe sessions (one long-lived exec per source pod).
		step("probe-sessions-down", func(context.Context) error {
			if h != nil {
				h.Engine.Close()
			}
			return nil
		}),
		// Delete the cluster unless asked to keep it.
		step("cluster-down", deleteCluster),
	)
	code := testenv.Run(m)
	cancel()
	os.Exit(code)
}

// liveTests are the tests of this package; -run must select at least one.
var liveTests = []string{"TestProof", "TestWorkshop", "TestPeers", "TestUpgrade"}

// checkInput validates flags and environment and loads every data file before any
// cluster work: everything that needs no cluster fails here, all at once, naming the flag
// or the file and line.
func checkInput() error {
	if err := inputcheck.UnknownEnv(inputcheck.Environ(), knownEnv()); err != nil {
		return err
	}
	if len(flagErrors) > 0 {
		return fmt.Errorf("bad environment: %s", strings.Join(flagErrors, "; "))
	}
	var p inputcheck.Problems
	selected, err := inputcheck.Selected(flag.Lookup("test.run").Value.String(), liveTests)
	benching := flag.Lookup("test.bench").Value.String() != ""
	if err != nil && !benching {
		p.Add("%v", err)
	}
	upgradeSelected = slices.Contains(selected, "TestUpgrade")
	checkImageOptions(p.Add)
	p.ClusterName("cluster-name", *flagClusterName)
	if *flagByPodIP && *flagByClusterIP {
		p.Add("-by-pod-ip and -by-cluster-ip exclude each other")
	}
	if f := calico.Family(*flagIPFamily); f != calico.IPv4 && f != calico.Dual {
		p.Add("-ip-family=%q: want ipv4 or dual", *flagIPFamily)
	}
	p.AtLeast("workers", *flagWorkers, 2, "the cross-node proof puts two pods on two workers")
	p.AtLeast("soak", *flagSoak, 0, "full rounds on the end state; 0 for none")
	p.AtLeast("perf-rounds", *flagPerfRounds, 0, "0 to skip")
	p.AtLeast("upgrade-conn-disruptions", *flagConnDisruptions, 0, "disruptions a rollout may cause")
	p.Positive("probe-timeout", *flagProbeTimeout)
	p.Positive("dns-timeout", *flagDNSTimeout)
	p.Positive("converge-deadline", *flagConvergeDeadline)
	if *flagConfirmTimeout < *flagProbeTimeout {
		p.Add("-confirm-timeout=%s: must not be below -probe-timeout=%s", *flagConfirmTimeout, *flagProbeTimeout)
	}
	p.Positive("upgrade-interval", *flagUpgradeInterval)
	p.Positive("upgrade-probe-timeout", *flagUpgradeTimeout)
	p.Positive("upgrade-hole-budget", *flagUpgradeHole)
	p.Positive("upgrade-reply-budget", *flagReplyBudget)
	p.NonNegative("upgrade-gap-budget", *flagUpgradeGapBudget)
	p.NonNegative("upgrade-tail", *flagUpgradeTail)
	if *flagSlowFactor < 1 {
		p.Add("-enforce-slowdown-factor=%g: want 1 or more (how many times A's p95 enforcement latency B's may reach)", *flagSlowFactor)
	}
	p.NonNegative("enforce-slowdown-min", *flagSlowMin)
	p.NonNegative("upgrade-conn-interval", *flagConnInterval)
	p.NeedsFor(*flagConnInterval > 0, "upgrade-conn-interval", flagConnInterval.String(), "upgrade-conn-control", *flagConnControl, "0 holds no connection; give an interval, or -upgrade-conn-control= to drop the control too")
	p.AtLeastDuration("upgrade-hole-budget", *flagUpgradeHole, "upgrade-interval", *flagUpgradeInterval, "every cell waits an interval between probes, so every rollout would fail")
	p.Timeout(testTimeout(), cleanupReserve, 5*time.Minute)
	p.WritableDir("report-dir", *flagReportDir, reportDir())
	for _, n := range flagOverEnv() {
		fmt.Println("e2e: " + n)
		run.Environment["flag over environment"] += n + "; "
	}
	if *flagConvergeDeadline < *flagProbeTimeout {
		p.Add("-converge-deadline=%s: must not be below -probe-timeout=%s", *flagConvergeDeadline, *flagProbeTimeout)
	}
	if benching {
		if _, err := parseSizes(*flagBenchSizes); err != nil {
			p.Add("%v", err)
		}
		p.AtLeast("bench-rounds", *flagBenchRounds, 1, "timed rounds per size")
		p.AtLeast("bench-targets", *flagBenchTargets, 2, "half of them admit the sources")
		if _, err := parseSizes(*flagBenchPolicies); err != nil {
			p.Add("-bench-policies: %v", err)
		}
		p.AtLeast("bench-policy-sources", *flagBenchPolSources, 1, "each policy opens one cell per source")
	}
	var errLoad error
	if scen, errLoad = scenario.Load(filepath.Join(repoRoot, "scenario.yaml")); errLoad != nil {
		return errors.Join(p.Err(), errLoad)
	}
	if logAllowlist, errLoad = calico.LoadAllowlist(filepath.Join(repoRoot, "calico-log-allowlist.yaml")); errLoad != nil {
		return errors.Join(p.Err(), errLoad)
	}
	// The admin steps in the form the installed Calico enforces, or none.
	if api := adminAPI(calicoVersion()); api == "" {
		scen.WithoutAdminSteps()
		run.Environment["admin policies"] = "not run: Calico " + calicoVersion() + " enforces neither AdminNetworkPolicy (v3.29 to v3.31) nor ClusterNetworkPolicy (v3.32 on)"
	} else {
		if err := scen.SelectAdminAPI(api); err != nil {
			return errors.Join(p.Err(), err)
		}
		run.Environment["admin policies"] = api + " (" + scenario.AdminKinds[api] + "), the form Calico " + calicoVersion() + " enforces"
	}
	states, err := scen.States()
	if err != nil {
		return errors.Join(p.Err(), err)
	}
	if err := checkFixtures(states); err != nil {
		return errors.Join(p.Err(), err)
	}
	if !benching {
		checkSelection(&p)
	}
	// The controls' variants and the proof's manifests, read now rather than mid-run.
	extra, _ := filepath.Glob(filepath.Join(repoRoot, "policies", "controls", "*.yaml"))
	admin, _ := filepath.Glob(filepath.Join(repoRoot, "policies", "controls", "admin", "*", "*.yaml"))
	extra = append(extra, admin...)
	for _, f := range append(extra, filepath.Join(repoRoot, "manifests", "proof", "proof.yaml")) {
		if _, err := scenario.LoadObjects(f); err != nil {
			p.Add("%v", err)
		}
	}
	checkCalico(&p, "calico-version", calicoVersion(), "calico-manifest", *flagCalicoManifest)
	if dp := dataplane(); slices.Contains(calico.Dataplanes, dp) {
		if err := calico.CheckDataplaneVersion(dp, calicoVersion()); err != nil {
			p.Add("-dataplane=%s with -calico-version=%s: %v: use -calico-version=%s, or -dataplane=iptables", dp, calicoVersion(), err, versions.CalicoDefault)
		}
	} else {
		p.Add("-dataplane=%q: want one of %v", *flagDataplane, calico.Dataplanes)
	}
	bpfVersions := checkBPFAttach(&p)
	if bpfVersions {
		checkBPFAttachVersion(&p, "calico-version", calicoVersion())
	}
	if upgradeSelected {
		checkUpgradeOptions(&p, states, bpfVersions)
	}
	checkPeers(&p, selected)
	return p.Err()
}

// checkSelection requires -run and -skip to select at least one subtest (a run that
// selects none builds a cluster and passes having tested nothing), and narrows
// upgradeSelected to a TestUpgrade that runs something.
func checkSelection(p *inputcheck.Problems) {
	run, skip := flag.Lookup("test.run").Value.String(), flag.Lookup("test.skip").Value.String()
	tree := func(name string, fs []features.Feature) inputcheck.Test {
		t := inputcheck.Test{Name: name}
		for _, f := range fs {
			sub := inputcheck.Test{Name: f.Name()}
			for _, s := range f.Steps() {
				if s.Level() == types.LevelAssess {
					sub.Subs = append(sub.Subs, inputcheck.Test{Name: s.Name()})
				}
			}
			t.Subs = append(t.Subs, sub)
		}
		return t
	}
	upgrade := tree("TestUpgrade", upgradeFeatures())
	all := []inputcheck.Test{tree("TestProof", proofFeatures()), tree("TestWorkshop", workshopFeatures()), upgrade}
	if *flagPeers {
		all = append(all, tree("TestPeers", peerFeatures()))
	}
	switch ok, err := inputcheck.RunsAny(run, skip, all); {
	case err != nil:
		p.Add("%v", err)
	case !ok:
		p.Add("-run=%q -skip=%q select no subtest of %s: the run would build a cluster and pass having tested nothing (the subtests are the steps, checks and controls in the report)", run, skip, strings.Join(liveTests, ", "))
	}
	upgradeSelected, _ = inputcheck.RunsAny(run, skip, []inputcheck.Test{upgrade})
}

// checkCalico checks a Calico version of the run (A or B) and its manifest before any
// cluster work: a build of this machine must be one it can build and has built, and a
// manifest file given must be a release manifest the adapter accepts for that version.
func checkCalico(p *inputcheck.Problems, versionFlag, version, manifestFlag, manifest string) {
	if builtHere() {
		if _, err := imagebuild.CalicoBuildSource(version); err != nil {
			p.Add("-%s: %v", versionFlag, err)
			return
		}
		if _, err := os.Stat(versions.CalicoManifest(version)); err != nil && manifest == "" {
			p.Add("-%s=%s: its offline build is missing (%s): run `make images CALICO_BUILDS=%s`", versionFlag, version, versions.CalicoManifest(version), version)
			return
		}
	} else if _, err := versions.CalicoRegistry(version); err != nil {
		p.Add("-%s: %v", versionFlag, err)
		return
	}
	if manifest != "" && !strings.Contains(manifest, "://") {
		if _, _, err := calicoManifest(context.Background(), version, manifest); err != nil {
			p.Add("-%s=%s: %v", manifestFlag, manifest, err)
		}
	}
}

// checkFixtures compares every fixture with what the evaluator computes from the
// manifests and policies: a wrong cell is found here, not minutes later on a cluster
// (where it would look like a probe result).
func checkFixtures(states []*scenario.State) error {
	for i := range scen.Steps {
		step := &scen.Steps[i]
		if step.Fixture == "" {
			continue
		}
		declared, err := scen.LoadFixture(step, states[i])
		if err != nil {
			return err
		}
		// Both families: a fixture may tell them apart (an admin policy's networks).
		computed, err := states[i].ExpectedFamilies(scen, scenario.Externals{V4: scen.External.IP, V6: scen.External.IPv6}, false)
		if err != nil {
			return err
		}
		mm, err := matrix.Compare(scenario.WithIPv6(declared), computed)
		if err != nil {
			return err
		}
		if len(mm) > 0 {
			var cells strings.Builder
			for _, m := range mm {
				fmt.Fprintf(&cells, "  %s -> %s: the fixture says %s, the evaluator computes %s\n", m.Row, m.Col, m.Want, m.Got)
			}
			return fmt.Errorf("%s: the fixture disagrees with the NetworkPolicy evaluator (internal/netpol) on %d cell(s); nothing was probed:\n%s"+
				"fix the fixture or the policy; `go test ./internal/scenario -run TestThreeOraclesAgree -v` also shows what the peer engine (cyclonus) says",
				step.Fixture, len(mm), cells.String())
		}
	}
	return nil
}

// checkUpgradeOptions checks TestUpgrade's options: version B, its offline build, the
// control policies and the connection control's target, against the end state.
func checkUpgradeOptions(p *inputcheck.Problems, states []*scenario.State, bpfVersions bool) {
	path, flagName := upgradePath(), "upgrade-to"
	if *flagUpgradePath != "" {
		flagName = "upgrade-path"
		if *flagUpgradeTo != "" {
			p.Add("-upgrade-path and -upgrade-to exclude each other: the path names every version")
		}
		if len(path) < 2 {
			p.Add("-upgrade-path=%s: name at least two versions", *flagUpgradePath)
		}
		if *flagCalicoVersion != "" && *flagCalicoVersion != path[0] {
			p.Add("-upgrade-path=%s starts at %s, -calico-version=%s: the path starts at the installed version (drop -calico-version)", *flagUpgradePath, path[0], *flagCalicoVersion)
		}
	}
	checked := map[string]bool{path[0]: true} // A: with -calico-version
	for i, v := range path {
		if !checked[v] {
			checked[v] = true
			checkCalico(p, flagName, v, "upgrade-manifest", *flagUpgradeManifest)
			if err := calico.CheckDataplaneVersion(dataplane(), v); err != nil {
				p.Add("-%s: %s on -dataplane=%s: %v; an upgrade on %s needs every version to have that dataplane", flagName, v, *flagDataplane, err, *flagDataplane)
			}
			if bpfVersions {
				checkBPFAttachVersion(p, flagName, v)
			}
		}
		if i > 0 && v == path[i-1] {
			p.Add("-%s: %s follows itself: nothing would change (-upgrade-to must differ from -calico-version)", flagName, v)
		}
	}
	end := endStep()
	if *flagUpgradeControl != "" {
		if _, _, err := states[end].DeletionOpens(scen, scenario.Externals{V4: scen.External.IP}, strings.Split(*flagUpgradeControl, ",")); err != nil {
			p.Add("-upgrade-control=%q: %v", *flagUpgradeControl, err)
		}
	}
	if *flagConnControl != "" && *flagUpgradeControl != "" {
		want, err := states[end].Expected(scen, scen.External.IP)
		if err != nil {
			p.Add("%v", err)
			return
		}
		if err := upgrade.CheckConnControl(states[end], scen, want, *flagConnControl); err != nil {
			p.Add("-upgrade-conn-control=%q: %v", *flagConnControl, err)
		}
	}
}

// adminAPI is the admin policy API a Calico version enforces: v1alpha1 (AdminNetworkPolicy,
// BaselineAdminNetworkPolicy) from v3.29 to v3.31, v1alpha2 (ClusterNetworkPolicy) from
// v3.32 (its release notes: ANP and BANP are no longer enforced), "" before v3.29.
func adminAPI(version string) string {
	minor, err := versions.CalicoMinor(version)
	switch {
	case err != nil || minor < 29:
		return ""
	case minor < 32:
		return "v1alpha1"
	}
	return "v1alpha2"
}

// endStep is the last step with a fixture: the workshop's end state.
func endStep() int {
	end := len(scen.Steps) - 1
	for end >= 0 && scen.Steps[end].Fixture == "" {
		end--
	}
	return end
}

// step wraps a setup or finish action: it logs and times it, and records a failure in the
// report so that a run that never got to its tests still says why.
func step(name string, fn func(ctx context.Context) error) env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		t0 := time.Now()
		fmt.Printf("--- %s\n", name)
		err := fn(ctx)
		run.Timings[name] = time.Since(t0).Round(time.Millisecond).String()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s failed: %v\n", name, err)
			rs := report.Failing("setup-"+name, "check", err)
			rs.Duration = time.Since(t0)
			run.Steps = append(run.Steps, rs)
			setupFailed = true
		}
		return ctx, err
	}
}

var setupFailed bool

// reportDir is -report-dir, a relative one under the repository root.
func reportDir() string {
	d := *flagReportDir
	if !filepath.IsAbs(d) {
		d = filepath.Join(repoRoot, d)
	}
	d, _ = filepath.Abs(d)
	return d
}

func createCluster(ctx context.Context) error {
	node, err := nodeImage(ctx)
	if err != nil {
		return err
	}
	if node != "" {
		if _, err := docker.ImageID(ctx, node); err != nil && builtHere() {
			return fmt.Errorf("node image %s is missing (%w): run `make images`", node, err)
		}
	}
	// kube-proxy in the dataplane's mode; on eBPF none: Calico replaces it (as Calico's
	// eBPF guide does, so that kube-proxy's rules and Calico's BPF services do not both
	// handle service traffic).
	proxyMode := map[calico.Dataplane]string{calico.Nftables: "nftables", calico.BPF: "none"}[dataplane()]
	kindC = cluster.New(cluster.Options{
		Name: *flagClusterName, NodeImage: node, Workers: *flagWorkers, PodSubnet: versions.PodSubnet, KubeProxyMode: proxyMode,
		Dual: dual(), PodSubnetV6: versions.PodSubnetV6, ServiceSubnets: versions.ServiceSubnet + "," + versions.ServiceSubnetV6,
		ContainerdPatches: clusterPatches(), Reuse: *flagReuse, Keep: *flagKeep, KubeconfigDir: reportDir(), Log: os.Stdout,
	})
	run.Environment["cluster"] = fmt.Sprintf("kind %s, 1 control plane + %d workers, node image %s", versions.Kind, *flagWorkers, orDefault(node, "kind default"))
	run.Environment["image source"] = *flagImageSource
	run.Environment["dataplane"] = *flagDataplane + " (Felix and kube-proxy)"
	if dataplane() == calico.BPF {
		run.Environment["dataplane"] = "bpf (Felix's eBPF mode, programs attached by " + *flagBPFAttach + "; no kube-proxy: Calico serves the services)"
	}
	run.Environment["ip family"] = *flagIPFamily
	if err := kindC.Up(ctx); err != nil {
		return err
	}
	if !kindC.Reused() {
		run.Timings["kind create"] = kindC.CreateTime.Round(time.Second).String()
	}
	return nil
}

func installCalico(ctx context.Context) error {
	k, err := kube.NewFromKubeconfig(kindC.Kubeconfig())
	if err != nil {
		return err
	}
	if kindC.Reused() {
		return calico.Wait(ctx, k, 3*time.Minute)
	}
	src, manifest, err := calicoManifest(ctx, calicoVersion(), *flagCalicoManifest)
	if err != nil {
		return err
	}
	did, err := deliverCalico(ctx, calicoVersion())
	if err != nil {
		return err
	}
	if did != nil {
		fmt.Println(did)
	}
	run.Environment["calico"] = versions.CalicoLabel(calicoVersion()) + " from " + src
	if dataplane() == calico.BPF {
		if err := servicesEndpoint(ctx, k); err != nil {
			return err
		}
	}
	t, err := calico.Install(ctx, k, manifest, os.Stdout)
	run.Timings["calico ready after apply"] = t.Ready.Round(time.Millisecond).String()
	return err
}

// servicesEndpoint points calico-node at the API server for eBPF mode, before Calico is
// applied: the ConfigMap Calico's manifests read, with the control-plane node's address on
// kind's network (there is no kube-proxy to serve the kubernetes service's ClusterIP).
func servicesEndpoint(ctx context.Context, k *kube.Client) error {
	ip, err := docker.ContainerIP(ctx, *flagClusterName+"-control-plane", cluster.Network)
	if err != nil || ip == "" {
		return fmt.Errorf("control-plane address for %s: %q: %w", calico.ServicesEndpoint, ip, err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: calico.ServicesEndpoint, Namespace: calico.Namespace},
		Data:       map[string]string{"KUBERNETES_SERVICE_HOST": ip, "KUBERNETES_SERVICE_PORT": "6443"},
	}
	if _, err := k.Clientset().CoreV1().ConfigMaps(calico.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ConfigMap %s/%s: %w", calico.Namespace, calico.ServicesEndpoint, err)
	}
	run.Environment["dataplane"] += fmt.Sprintf("; calico-node reaches the API server at %s:6443 (ConfigMap %s)", ip, calico.ServicesEndpoint)
	return nil
}

// conntrackUDPTimeout is how long the dataplane keeps a UDP flow: Felix's BPF conntrack
// in eBPF mode, the nodes' nf_conntrack_udp_timeout otherwise.
func conntrackUDPTimeout(ctx context.Context) time.Duration {
	if dataplane() == calico.BPF {
		return calico.BPFConntrackUDPTimeout
	}
	return kindC.ConntrackUDPTimeout(ctx)
}

func startExternal(ctx context.Context) error {
	_ = docker.Remove(ctx, externalContainer())
	args := []string{"run", "-d", "--name", externalContainer(), "--network", cluster.Network, "--label", "netpol-e2e=external"}
	if dual() {
		// At the IPv6 address the IPv6 ipBlock control names (scenario.yaml). Docker pins
		// addresses only in subnets the network's creator chose: kind chooses its IPv6 one
		// (a fixed ULA), not the IPv4 one.
		args = append(args, "--ip6", scen.External.IPv6)
	}
	args = append(args, versions.StarImage(), "probe", "--name=external", "--listen=:8080")
	if _, err := docker.Output(ctx, args...); err != nil {
		return fmt.Errorf("start external host: %w (dual-stack pins it at %s, scenario.yaml: kind's network must hold it; -ip-family=ipv4 runs without IPv6)", err, scen.External.IPv6)
	}
	return nil
}

func connectHarness(ctx context.Context) error {
	k, err := kube.NewFromKubeconfig(kindC.Kubeconfig())
	if err != nil {
		return err
	}
	ip, err := docker.ContainerIP(ctx, externalContainer(), cluster.Network)
	if err != nil || ip == "" {
		return fmt.Errorf("external host address %q: %w", ip, err)
	}
	run.Environment["external host"] = ip + ":8080 (container " + externalContainer() + " on docker network " + cluster.Network + ")"
	ip6 := ""
	if dual() {
		if ip6, err = docker.ContainerIPv6(ctx, externalContainer(), cluster.Network); err != nil {
			return fmt.Errorf("external host IPv6 address: %w", err)
		}
		if ip6 == "" {
			return fmt.Errorf("external host: no IPv6 address on docker network %s (dual-stack needs IPv6 on it: delete the network for kind to create it again with IPv6, or run with -ip-family=ipv4)", cluster.Network)
		}
		run.Environment["external host"] += ", [" + ip6 + "]:8080"
	}
	run.Environment["probe"] = fmt.Sprintf("connect timeout %s, dns budget %s, by %s, converge deadline %s", *flagProbeTimeout, *flagDNSTimeout, probedBy(), *flagConvergeDeadline)
	h, err = harness.New(harness.Config{
		ProbeTimeout: *flagProbeTimeout, DNSTimeout: *flagDNSTimeout, ConfirmTimeout: *flagConfirmTimeout, ConvergeDeadline: *flagConvergeDeadline, ByPodIP: *flagByPodIP, ByClusterIP: *flagByClusterIP,
		ExternalIP: ip, Dual: dual(), ExternalIPv6: ip6, Kubeconfig: kindC.Kubeconfig(), ReadyTimeout: 3 * time.Minute,
		ConntrackUDPTimeout: conntrackUDPTimeout(ctx), NodeConntrack: dataplane() != calico.BPF, CalicoLogAllowlist: logAllowlist,
		Dataplane: dataplane(), BPFAttach: bpfAttach(),
	}, k, scen, os.Stdout)
	if err != nil {
		return err
	}
	// Calico's health is judged from here on (install-time lines are the install's).
	return h.MarkCalicoHealthy(ctx)
}

func writeReport(_ context.Context) error {
	run.Finished = time.Now()
	fmt.Printf("\n%s", run.Summary())
	if err := run.Write(reportDir()); err != nil {
		return err
	}
	fmt.Printf("report: %s (junit.xml, results.json, report.html, summary.txt)\n", reportDir())
	return nil
}

func exportLogsOnFailure(ctx context.Context) error {
	if kindC == nil || (!run.Failed() && !setupFailed && !failed) {
		return nil
	}
	dir := filepath.Join(reportDir(), "logs")
	fmt.Printf("exporting kind logs (calico-node included) to %s\n", dir)
	if err := kindC.ExportLogs(dir); err != nil {
		fmt.Fprintf(os.Stderr, "export logs: %v\n", err)
	}
	if h != nil {
		saveAppliedPolicies(ctx, filepath.Join(dir, "applied-policies.yaml"))
	}
	return nil
}

// failed is set by tests that fail (t.Failed), read by the log export.
var failed bool

func saveAppliedPolicies(ctx context.Context, path string) {
	list, err := h.Kube.Clientset().NetworkingV1().NetworkPolicies("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	var b strings.Builder
	for _, p := range list.Items {
		u, err := kube.ToUnstructured(&p)
		if err != nil {
			continue
		}
		y, err := yaml.Marshal(u.Object)
		if err == nil {
			b.WriteString("---\n")
			b.Write(y)
		}
	}
	_ = os.WriteFile(path, []byte(b.String()), 0o644)
}

func stopExternal(ctx context.Context) error {
	return docker.Remove(ctx, externalContainer())
}

func deleteCluster(_ context.Context) error {
	if kindC == nil {
		return nil
	}
	return kindC.Down()
}

// onInterrupt makes Ctrl-C leave no containers behind unless -keep-cluster was given;
// so does a -test.timeout about to expire (the testing package then kills the binary
// with no teardown): cleanupReserve before it, the run stops and cleans up.
func onInterrupt(cancel context.CancelFunc) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	var deadline <-chan time.Time
	if d := testTimeout(); d > 0 {
		deadline = time.After(d - cleanupReserve)
	}
	go func() {
		code := 130
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "\ne2e: %s: cleaning up\n", s)
		case <-deadline:
			fmt.Fprintf(os.Stderr, "\ne2e: -test.timeout=%s expires in %s: stopping and cleaning up now (the testing package would kill the run with no teardown); give a longer -test.timeout (make e2e E2E_TIMEOUT=...)\n", testTimeout(), cleanupReserve)
			code = 1
		}
		cancel()
		_ = docker.Remove(context.Background(), externalContainer())
		if *flagKeep {
			fmt.Fprintf(os.Stderr, "e2e: keeping cluster %q and the local registry (-keep-cluster)\n", *flagClusterName)
			os.Exit(code)
		}
		_ = stopMirror(context.Background())
		// kind may still be creating nodes: delete until none is left.
		c := cluster.New(cluster.Options{Name: *flagClusterName})
		for attempt := range 10 {
			if err := c.Delete(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: delete cluster (attempt %d): %v\n", attempt+1, err)
			}
			time.Sleep(2 * time.Second)
			if ok, err := c.Exists(); err == nil && !ok {
				break
			}
		}
		os.Exit(code)
	}()
}

// cleanupReserve is kept of -test.timeout for the cleanup (cluster, registry, external
// host: well under a minute here).
const cleanupReserve = 2 * time.Minute

// testTimeout is -test.timeout (0: none).
func testTimeout() time.Duration {
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, ok := f.Value.(flag.Getter).Get().(time.Duration); ok {
			return d
		}
	}
	return 0
}

// probedBy says how services are addressed.
func probedBy() string {
	switch {
	case *flagByPodIP:
		return "pod IP"
	case *flagByClusterIP:
		return "ClusterIP"
	}
	return "service DNS name"
}

// dual reports whether the run's cluster is dual-stack (-ip-family=dual).
func dual() bool { return calico.Family(*flagIPFamily) == calico.Dual }

// dataplane is the dataplane asked for (-dataplane).
func dataplane() calico.Dataplane { return calico.Dataplane(*flagDataplane) }

// bpfAttach is how the eBPF dataplane attaches its programs (-bpf-attach).
func bpfAttach() calico.BPFAttach { return calico.BPFAttach(*flagBPFAttach) }

// checkBPFAttach refuses an unknown -bpf-attach, and one given on the command line
// without -dataplane=bpf, which would change nothing. It says whether each version's
// support of the mode is to be checked (checkBPFAttachVersion).
func checkBPFAttach(p *inputcheck.Problems) bool {
	switch {
	case !slices.Contains(calico.BPFAttaches, bpfAttach()):
		p.Add("-bpf-attach=%q: want one of %v", *flagBPFAttach, calico.BPFAttaches)
		return false
	case dataplane() != calico.BPF:
		if flagOnCommandLine("bpf-attach") {
			p.Add("-bpf-attach=%s without -dataplane=bpf: only the eBPF dataplane attaches programs (drop -bpf-attach, or add -dataplane=bpf)", *flagBPFAttach)
		}
		return false
	}
	return true
}

// checkBPFAttachVersion refuses an attach mode the version (given by -flagName) cannot use.
func checkBPFAttachVersion(p *inputcheck.Problems, flagName, version string) {
	if err := calico.CheckBPFAttach(bpfAttach(), version); err != nil {
		p.Add("-bpf-attach=%s with -%s=%s: %v (use -bpf-attach=%s)", *flagBPFAttach, flagName, version, err, calico.AttachTC)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
