package e2e

import (
	"flag"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/netpol-e2e/harness/internal/bench"
	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/inputcheck"
	"github.com/netpol-e2e/harness/internal/versions"
)

// Every flag also reads an environment variable (NETPOL_ + upper-case name), so the
// nightly workflow and a laptop can set them either way: go test ./e2e/... -args -keep-cluster
// or NETPOL_KEEP_CLUSTER=true go test ./e2e/...
var (
	flagImageSource      = flag.String("image-source", envStr("IMAGE_SOURCE", "offline"), "offline: images built here by `make images`; upstream: kind's default node image and Calico's published manifest and images; rehearsal: upstream mode with every byte from here (the offline node image under kind's default tag, the release manifests served on the loopback at their upstream paths, images pulled by their upstream names through the local registry)")
	flagImageDelivery    = flag.String("image-delivery", envStr("IMAGE_DELIVERY", "registry"), "registry: images pushed to a local registry on kind's network that is the nodes' mirror, pulled by the nodes; kind-load: copied into every node by kind")
	flagRegistryPort     = flag.Int("registry-port", envInt("REGISTRY_PORT", 5005), "the local registry's port on 127.0.0.1 (pushes go there)")
	flagMeasureDelivery  = flag.Bool("measure-delivery", envBool("MEASURE_DELIVERY", false), "before installing Calico, time getting A's and B's images onto every node by kind load and by the registry, each from nothing")
	flagNodeImage        = flag.String("node-image", envStr("NODE_IMAGE", ""), "kind node image (default: the offline one; kind's default with -image-source=upstream; kind's default tag, without digest, on the offline build for the rehearsal)")
	flagCalicoVersion    = flag.String("calico-version", envStr("CALICO_VERSION", ""), "Calico version A (a build's version string, or an upstream release such as v3.32.0); default "+versions.CalicoDefault+", the newest release built here, or "+versions.CalicoUpgradeFrom+" when TestUpgrade runs (the upgrade's A)")
	flagCalicoManifest   = flag.String("calico-manifest", envStr("CALICO_MANIFEST", ""), "Calico manifest file or https URL (default: the offline build's, or the release's calico-vxlan.yaml)")
	flagDataplane        = flag.String("dataplane", envStr("DATAPLANE", "iptables"), "iptables; nftables: Felix's nftables mode (Calico v3.29 and later) and kube-proxy's nftables mode; or bpf: Felix's eBPF mode (our builds v3.30.7 to v3.32.1, or upstream images), no kube-proxy. The run proves on every node that the policy is in it (rules, or BPF programs on every workload interface) and not in the others")
	flagBPFAttach        = flag.String("bpf-attach", envStr("BPF_ATTACH", string(calico.AttachTCX)), "with -dataplane=bpf: how Felix attaches its programs (bpfAttachType): tcx, Calico's default from v3.31 on this kernel, or tc (the clsact qdisc; v3.30 has only this). On tcx, v3.31.7 to v3.33 drop a pod's new connections for a few ms while a policy change re-attaches its programs (docs/dataplanes.md), which a run can see as an allowed cell blocked; the nightly uses tc (a calico-node restart still re-attaches them, in both modes). Given on the command line without -dataplane=bpf it is refused; NETPOL_BPF_ATTACH is then ignored")
	flagIPFamily         = flag.String("ip-family", envStr("IP_FAMILY", "dual"), "dual: a dual-stack cluster (Calico IPv4 and IPv6 pools over VXLAN), every cell probed over IPv4 and over IPv6; ipv4: IPv4 only (for a Docker whose kind network has no IPv6)")
	flagClusterName      = flag.String("cluster-name", envStr("CLUSTER_NAME", "netpol-e2e"), "kind cluster name")
	flagWorkers          = flag.Int("workers", envInt("WORKERS", 2), "kind worker nodes (plus one control plane)")
	flagReuse            = flag.Bool("reuse-cluster", envBool("REUSE_CLUSTER", false), "use an existing cluster of that name (with Calico) instead of creating one")
	flagKeep             = flag.Bool("keep-cluster", envBool("KEEP_CLUSTER", false), "keep the cluster after the run (also on Ctrl-C)")
	flagReportDir        = flag.String("report-dir", envStr("REPORT_DIR", "_report"), "where JUnit XML, JSON, HTML and (on failure) logs go (relative: under the repository root)")
	flagProbeTimeout     = flag.Duration("probe-timeout", envDuration("PROBE_TIMEOUT", time.Second), "per-target timeout of star check: a connection not made by then is blocked")
	flagDNSTimeout       = flag.Duration("dns-timeout", envDuration("DNS_TIMEOUT", 5*time.Second), "per-target name resolution budget of star check (lookups retried within it); a dns target not resolved by then is blocked")
	flagConfirmTimeout   = flag.Duration("confirm-timeout", envDuration("CONFIRM_TIMEOUT", 5*time.Second), "connect timeout of each step's confirming round: a flow connecting slower than -probe-timeout but within this is allowed (a slow leak), not blocked")
	flagConvergeDeadline = flag.Duration("converge-deadline", envDuration("CONVERGE_DEADLINE", 60*time.Second), "how long a step may take to match its expectation after apply")
	flagByPodIP          = flag.Bool("by-pod-ip", envBool("BY_POD_IP", false), "probe services' pods by pod IP instead of by service DNS name")
	flagByClusterIP      = flag.Bool("by-cluster-ip", envBool("BY_CLUSTER_IP", false), "probe services by their ClusterIPs (one per family) instead of by DNS name")
	flagSoak             = flag.Int("soak", envInt("SOAK", 0), "full matrix rounds to run on the end state (0: none)")
	flagUICheck          = flag.Bool("ui-check", envBool("UI_CHECK", true), "check the management UI in headless Chromium at the end state (the .ci/run passes after the first set it false: the page is the app's, the same whatever the dataplane or family)")
	flagPerfRounds       = flag.Int("perf-rounds", envInt("PERF_ROUNDS", 3), "rounds of the per-source vs per-cell measurement on the end state (0: skip)")

	// The upgrade check (TestUpgrade): roll Calico -calico-version -> -upgrade-to and back.
	flagUpgradeTo        = flag.String("upgrade-to", envStr("UPGRADE_TO", ""), "Calico version B of the upgrade check (default "+versions.CalicoDefault+"; "+versions.CalicoUpgradeBuild+" is a second build of v3.28.5's source, a restart-only baseline)")
	flagUpgradePath      = flag.String("upgrade-path", envStr("UPGRADE_PATH", ""), "comma-separated Calico versions TestUpgrade rolls through in order, each hop with every check, e.g. v3.28.5,v3.29.7,v3.30.7,v3.31.7,v3.32.1 and optionally "+versions.CalicoBranch+" (a branch snapshot built here, not a release) last (instead of -upgrade-to and back; the first is A)")
	flagUpgradeManifest  = flag.String("upgrade-manifest", envStr("UPGRADE_MANIFEST", ""), "version B's Calico manifest file or https URL (default: the offline build's, or the release's calico-vxlan.yaml)")
	flagUpgradeInterval  = flag.Duration("upgrade-interval", envDuration("UPGRADE_INTERVAL", 250*time.Millisecond), "how often every source probes every target during a rollout")
	flagUpgradeTimeout   = flag.Duration("upgrade-probe-timeout", envDuration("UPGRADE_PROBE_TIMEOUT", 3*time.Second), "connect timeout of the probes during a rollout: an allowed cell not connected by then is down (3s lets one SYN retransmission through; right probes slower than -probe-timeout are reported as slow)")
	flagUpgradeGapBudget = flag.Duration("upgrade-gap-budget", envDuration("UPGRADE_GAP_BUDGET", 0), "how long an allowed cell may be seen down during a rollout (0: never)")
	flagUpgradeHole      = flag.Duration("upgrade-hole-budget", envDuration("UPGRADE_HOLE_BUDGET", time.Second), "during a rollout, the longest a cell may go without a probe starting")
	flagConnInterval     = flag.Duration("upgrade-conn-interval", envDuration("UPGRADE_CONN_INTERVAL", 100*time.Millisecond), "during a rollout, each held connection (one per allowed app cell) exchanges a request and its reply this often (0: hold none)")
	flagReplyBudget      = flag.Duration("upgrade-reply-budget", envDuration("UPGRADE_REPLY_BUDGET", time.Second), "a held connection's reply later than this is a disruption (as are a reset and a close)")
	flagConnDisruptions  = flag.Int("upgrade-conn-disruptions", envInt("UPGRADE_CONN_DISRUPTIONS", 0), "how many held-connection disruptions a rollout may cause")
	flagConnControl      = flag.String("upgrade-conn-control", envStr("UPGRADE_CONN_CONTROL", "client:9000"), "connection control: during the third rollout, the server of this target is restarted; exactly its held connections must be reported disrupted (empty: no control)")
	flagBenchSizes       = flag.String("bench-sizes", envStr("BENCH_SIZES", "6,12,25,50"), "BenchmarkScale (make bench): the source counts, each probing -bench-targets targets")
	flagBenchTargets     = flag.Int("bench-targets", envInt("BENCH_TARGETS", bench.Targets), "BenchmarkScale: the target services (the first half admit the sources); 50 with -bench-sizes=50 is the 2,500-cell round")
	flagBenchPolicies    = flag.String("bench-policies", envStr("BENCH_POLICIES", "1,10,50"), "BenchmarkEnforcement (make bench): how many policies are applied one after another, each admitting the sources to one more target, every cell timed at 100 ms")
	flagBenchPolSources  = flag.Int("bench-policy-sources", envInt("BENCH_POLICY_SOURCES", 2), "BenchmarkEnforcement: source pods (each policy opens one cell per source)")
	flagBenchRounds      = flag.Int("bench-rounds", envInt("BENCH_ROUNDS", 5), "BenchmarkScale: timed rounds per size")
	flagUpgradeTail      = flag.Duration("upgrade-tail", envDuration("UPGRADE_TAIL", 10*time.Second), "how long probing goes on after a rollout is complete")
	flagPeers            = flag.Bool("peers", envBool("PEERS", false), "run the peer suites on the same cluster (TestPeers, after the workshop): the upstream Kubernetes Netpol specs and the network-policy-api conformance of the admin API the installed Calico enforces; built by `make images PEERS=1`")
	flagEnforceReplay    = flag.Bool("enforce-replay", envBool("ENFORCE_REPLAY", false), "opt-in (.ci/run keeps its time budget; the nightly runs them): TestUpgrade replays the policy steps (each step's policies deleted and applied again on the end state, its changed cells probed every 100 ms) before the first rollout and after each, and fails a version that enforces slower than the one before it by more than -enforce-slowdown-factor and -enforce-slowdown-min")
	flagSlowFactor       = flag.Float64("enforce-slowdown-factor", envFloat("ENFORCE_SLOWDOWN_FACTOR", 2), "a version's replay fails when its p95 enforcement latency exceeds this many times the previous version's and ...")
	flagSlowMin          = flag.Duration("enforce-slowdown-min", envDuration("ENFORCE_SLOWDOWN_MIN", 500*time.Millisecond), "... is also at least this much more")
	flagAdminLoss        = flag.Bool("upgrade-admin-loss", envBool("UPGRADE_ADMIN_LOSS", true), "when A and B are on either side of v3.32 (AdminNetworkPolicy/BaselineAdminNetworkPolicy vs ClusterNetworkPolicy) and no -upgrade-path is given: after the hops, roll A -> B with only A's admin form and B -> A with only B's; each must change exactly the cells the evaluator predicts for the admin policies not enforced")
	flagUpgradeControl   = flag.String("upgrade-control", envStr("UPGRADE_CONTROL", "pci/default-deny-pci,pci/allow-management-ui"), "negative control: end-state policies (namespace/name, comma-separated) deleted during a third rollout (a restart of calico-node); the suite must report exactly their leak (empty: no control)")
)

// flagErrors collects environment variables that did not parse; TestMain reports them.
var flagErrors []string

// envDefaults are the NETPOL_* variables the options read, with the defaults as written
// here (a flag's DefValue follows the environment): docs/flags.md is generated from them.
var envDefaults = map[string]string{}

// knownEnv lists every NETPOL_* variable an option reads and the few read elsewhere, so
// a misspelled one is an error rather than silently ignored.
func knownEnv() []string {
	return append([]string{"NETPOL_CHROMIUM", "NETPOL_CACHE", "NETPOL_SOURCES"}, slices.Sorted(maps.Keys(envDefaults))...)
}

func envStr(name, def string) string {
	envDefaults["NETPOL_"+name] = def
	if v, ok := os.LookupEnv("NETPOL_" + name); ok {
		return v
	}
	return def
}

// envParsed reads NETPOL_<name> with parse, recording a bad value for TestMain.
func envParsed[T any](name string, def T, format func(T) string, parse func(string) (T, error)) T {
	v, err := parse(envStr(name, format(def)))
	if err != nil {
		flagErrors = append(flagErrors, "NETPOL_"+name+": "+err.Error())
		return def
	}
	return v
}

func envBool(name string, def bool) bool {
	return envParsed(name, def, strconv.FormatBool, strconv.ParseBool)
}

func envInt(name string, def int) int {
	return envParsed(name, def, strconv.Itoa, strconv.Atoi)
}

func envFloat(name string, def float64) float64 {
	return envParsed(name, def, func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })
}

func envDuration(name string, def time.Duration) time.Duration {
	return envParsed(name, def, time.Duration.String, time.ParseDuration)
}

// flagOverEnv says, for every flag given whose NETPOL_ variable disagrees, that the flag won.
func flagOverEnv() []string {
	set := map[string]string{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
	return inputcheck.FlagOverEnv(set, inputcheck.Environ(), knownEnv())
}

// flagOnCommandLine says whether a flag was given on the command line (not by its
// NETPOL_ variable, which a workflow may set for every job of a matrix).
func flagOnCommandLine(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
