package versions

import (
	"fmt"
	"path/filepath"
)

// The peer suites (make peers): the upstream Kubernetes Netpol e2e specs of the node's
// release and the network-policy-api conformance suite of the API version Calico pins.
const (
	// AgnhostRegistry is where upstream publishes agnhost; the specs and the conformance
	// manifests name it so, and the nodes get our build under that name.
	AgnhostRegistry = "registry.k8s.io/e2e-test-images/agnhost"
	// AgnhostNetpol is the agnhost that k8s.io/kubernetes v1.37.0's test/utils/image names
	// (its test/images/agnhost/VERSION): the Netpol specs' servers and probes.
	AgnhostNetpol = "2.66.1"
	// AgnhostConformance is the agnhost the network-policy-api conformance manifests name
	// (v0.1.5 and v0.2.0): built from k8s.io/kubernetes v1.28.0, whose VERSION it is.
	AgnhostConformance = "2.45"
	// AgnhostConformanceKubernetes is that source's release.
	AgnhostConformanceKubernetes = "v1.28.0"
)

// AgnhostImage is agnhost's image name of a tag.
func AgnhostImage(tag string) string { return AgnhostRegistry + ":" + tag }

// AgnhostImages are both agnhost images the peers run.
func AgnhostImages() []string {
	return []string{AgnhostImage(AgnhostNetpol), AgnhostImage(AgnhostConformance)}
}

// NetworkPolicyAPI is the network-policy-api conformance a Calico release answers to: the
// module version it pins and the conformance profiles of the admin API it enforces
// (v3.29-v3.31: AdminNetworkPolicy and BaselineAdminNetworkPolicy, v0.1.5; v3.32 on:
// ClusterNetworkPolicy, v0.2.0). Before v3.29 Calico enforces neither.
type NetworkPolicyAPI struct {
	Module   string   // sigs.k8s.io/network-policy-api version
	Profiles []string // -conformance-profiles
}

// NetworkPolicyAPIVersions are the module versions the peers build.
var NetworkPolicyAPIVersions = []string{"v0.1.5", "v0.2.0"}

// NetworkPolicyAPIFor is the conformance of a Calico version.
func NetworkPolicyAPIFor(calicoVersion string) (NetworkPolicyAPI, error) {
	minor, err := CalicoMinor(calicoVersion)
	if err != nil {
		return NetworkPolicyAPI{}, err
	}
	switch {
	case minor >= 32:
		return NetworkPolicyAPI{Module: "v0.2.0", Profiles: []string{"ClusterNetworkPolicy"}}, nil
	case minor >= 29:
		return NetworkPolicyAPI{Module: "v0.1.5", Profiles: []string{"AdminNetworkPolicy", "BaselineAdminNetworkPolicy"}}, nil
	}
	return NetworkPolicyAPI{}, fmt.Errorf("calico %s enforces no admin network policy API (v3.29 and later do)", calicoVersion)
}

// PeersDir holds the peer suites' test binaries built by `make images PEERS=1`.
func PeersDir() string { return filepath.Join(CacheDir(), "peers", Kubernetes) }

// NetpolE2EBinary is the upstream Netpol specs' test binary.
func NetpolE2EBinary() string { return filepath.Join(PeersDir(), "netpol-e2e.test") }

// ConformanceBinary is the network-policy-api conformance test binary of a module version.
func ConformanceBinary(module string) string {
	return filepath.Join(PeersDir(), "network-policy-api-"+module+"-conformance.test")
}

// ConformanceSubtestsFile lists a conformance suite's subtests, read from its source at
// build time (which probe over SCTP, for the skip where the kernel lacks it).
func ConformanceSubtestsFile(module string) string {
	return filepath.Join(PeersDir(), "network-policy-api-"+module+"-subtests.json")
}
