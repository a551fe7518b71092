package versions

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The pinned versions. Change them here and nowhere else: `make images` keys its cache on
// them, and the e2e reads the tags below.
const (
	Kubernetes       = "v1.37.0" // kubeadm, kubelet, kubectl and the control plane
	KubernetesMinor  = "37"
	Kind             = "v0.33.0" // its images/base files and the Go library
	Containerd       = "v2.3.4"
	Runc             = "v1.4.3"
	Crictl           = "v1.37.0"
	CNIPlugins       = "v1.9.1"
	CoreDNS          = "v1.14.6"
	Etcd             = "v3.7.0"
	EtcdImageTag     = "3.7.0-0" // what kubeadm v1.37 asks for
	Pause            = "3.10.2"  // what kubeadm v1.37 asks for
	KindSandboxPause = "3.10"    // what kind's containerd config pins
	Debian           = "bookworm"

	// CalicoModule is the one Calico version the Go module proxy serves (release-v3.28
	// branch); its images are named v3.28.5.
	CalicoModule  = "v1.11.0-cni-plugin.0.20250813170300-a0db560f0520"
	CalicoVersion = "v3.28.5"
	// CalicoUpgradeBuild is a second build of that same source with its own version string
	// and image tags: a restart-only baseline for the upgrade check (-upgrade-to; the
	// rollout is real, the code on both sides is the same). Built on request only.
	CalicoUpgradeBuild = CalicoVersion + "-b"
	// CalicoDefault is the release a run installs by default: the newest release built here.
	CalicoDefault = "v3.32.1"
	// CalicoUpgradeFrom is the default upgrade check's A: the minor before CalicoDefault
	// (B). Users upgrade v3.31 -> v3.32 today.
	CalicoUpgradeFrom = "v3.31.7"

	// StarVersion tags the demo app's image (manifests/ name it).
	StarVersion = "0.1.0"

	// Distribution is the registry's version (github.com/distribution/distribution/v3,
	// the code of Docker's registry image): the cluster's local image mirror.
	Distribution = "v3.1.2"
)

const (
	// LocalRegistry prefixes images we build that upstream publishes under other names.
	LocalRegistry = "netpol-e2e.local"
	// PodSubnet is kind's podSubnet and Calico's IPv4 pool.
	PodSubnet = "10.244.0.0/16"
	// PodSubnetV6 is the IPv6 half of a dual-stack cluster's podSubnet (kind's own
	// dual-stack default) and Calico's IPv6 pool.
	PodSubnetV6 = "fd00:10:244::/56"
	// ServiceSubnetV6 is the IPv6 half of a dual-stack cluster's service range.
	ServiceSubnetV6 = "fd00:10:96::/112"
	// ServiceSubnet is kind's IPv4 service range.
	ServiceSubnet = "10.96.0.0/16"
)

// SourceArchive pins a source archive that no registry here serves: `git archive` of a
// release tag, gzip'd. The build looks for File in a local sources directory first
// ($NETPOL_SOURCES, then the cache), and downloads URL only where it is absent.
type SourceArchive struct {
	Version string
	File    string
	URL     string // upstream, for users with internet
	Commit  string // the tag's commit id, in the archive's pax header (git get-tar-commit-id)
	SHA256  string // of File as distributed beside this project (a download is checked by Commit)
	// Replace are the go.mod replaces (old=new) the module proxy forces: a version its
	// go.mod names that the proxy refuses.
	Replace []string
	// Libbpf is the libbpf release a Calico source pins (nil: none; calico-node is then
	// built without cgo).
	Libbpf *SourceArchive
	// Snapshot, when set, says the archive is a branch's head at a commit, not a release
	// (Version is then the branch's name, as its manifest tags the images): "branch
	// release-v3.33 at 6609dea54713, 2026-08-21".
	Snapshot string
}

// CalicoSources are the Calico releases built from a source archive (no registry here
// serves them), oldest first.
var CalicoSources = []SourceArchive{
	calicoTag("v3.29.7", "82fd18c202ac5400cd7760597a510de9d028b035", "9e20b03304400476dfd683ec463c171f0acafb78cfb43d7bd83364b4c7638d18", nil,
		// hcsshim v0.11.8, which its go.mod names, is refused by the module proxy.
		"github.com/Microsoft/hcsshim=github.com/Microsoft/hcsshim@v0.11.7"),
	calicoTag("v3.30.7", "74485ea40911c4868ae83ddb5da489c1533d1dba", "1cc6b045ac4240355f575531f19b2d565ef175ada3c502f542b94546b4060506", &libbpf146),
	calicoTag("v3.31.7", "94bd1d5b0e04459d4d1c83653e0335a9201248b8", "447a8f2519cd34f8fe085b6609ad12c5c41a9109ebdd4b19ae36a348fd31307d", &libbpf146),
	calicoTag("v3.32.1", "0ca9d1b93644778cafdf1812f3dda02ac0c361e8", "dcd3b574adf2330cb9739c8ef69575f77c00a5969543d8f4dc817aacde9fc994", &libbpf162),
	// The v3.33 line before v3.33.0 was tagged: one calico/calico image beside calico/node.
	calicoBranch("release-v3.33", "6609dea54713df1f84a77d8a7cecf25dff86fa5f", "1656fc5b26196c04aac85485eec55915337d113ee6022397211ab17b4822ec03", "2026-08-21", &libbpf162),
}

// CalicoBranch is the branch snapshot among CalicoSources: the newest Calico built here,
// which is no release. Runs name it only when asked (-upgrade-path's optional last hop,
// -calico-version); every report labels it (CalicoLabel).
const CalicoBranch = "release-v3.33"

// The libbpf releases Calico's metadata.mk pins (LIBBPF_VERSION): calico-node links them
// (cgo). From v3.30 Felix calls libbpf at start even in iptables and nftables mode (it
// removes any BPF connect-time load balancer left behind), so a build without it panics
// ("LIBBPF syscall stub"), seen with v3.31.7. v3.29.7 and the module's v3.28.5 pin none
// and run with the stubs.
var (
	libbpf146 = libbpfTag("v1.4.6", "fdf402b384cc42ce29bb9e27011633be3cbafe1e", "3a381a36289b7fd54217c8ef9532ce68844a32530a18e176c0f26185619bdf8e")
	libbpf162 = libbpfTag("v1.6.2", "45e89348ec74617c11cd5241ccd0ffc91dfd03c4", "9a15368cae93f57625e403c0058bb2b9a0d8c811488ad403db2b5f3d9749dd96")
)

func calicoTag(version, commit, sum string, libbpf *SourceArchive, replace ...string) SourceArchive {
	a := githubTag("projectcalico/calico", version, commit, sum)
	a.Replace, a.Libbpf = replace, libbpf
	return a
}

// calicoBranch is the head of a release branch at a commit: the archive is named
// calico-BRANCH-SHORTCOMMIT.tar.gz beside this project; for users with internet, GitHub
// serves the same commit.
func calicoBranch(branch, commit, sum, date string, libbpf *SourceArchive) SourceArchive {
	return SourceArchive{
		Version:  branch,
		File:     "calico-" + branch + "-" + commit[:7] + ".tar.gz",
		URL:      "https://github.com/projectcalico/calico/archive/" + commit + ".tar.gz",
		Commit:   commit,
		SHA256:   sum,
		Libbpf:   libbpf,
		Snapshot: "branch " + branch + " at " + commit[:12] + ", " + date,
	}
}

func libbpfTag(version, commit, sum string) SourceArchive {
	return githubTag("libbpf/libbpf", version, commit, sum)
}

// githubTag is the archive of a repository's tag, named as the shared sources folder names
// it (REPO-NAME-VERSION.tar.gz), with the forge's URL for users with internet.
func githubTag(repo, version, commit, sum string) SourceArchive {
	name := repo[strings.LastIndex(repo, "/")+1:]
	return SourceArchive{
		Version: version,
		File:    name + "-" + version + ".tar.gz",
		URL:     "https://github.com/" + repo + "/archive/refs/tags/" + version + ".tar.gz",
		Commit:  commit,
		SHA256:  sum,
	}
}

// CalicoSource is the source archive of a Calico release built from one.
func CalicoSource(version string) (SourceArchive, bool) {
	for _, a := range CalicoSources {
		if a.Version == version {
			return a, true
		}
	}
	return SourceArchive{}, false
}

// CalicoReleases are the Calico versions buildable here, oldest first: the module's
// release, then the source archives' (the releases, then the branch snapshot, which is
// newest and no release: see CalicoLabel). The upgrade path runs them in this order.
func CalicoReleases() []string {
	out := []string{CalicoVersion}
	for _, a := range CalicoSources {
		out = append(out, a.Version)
	}
	return out
}

// CalicoMinor parses a Calico version: a release, a build of one ("v3.28.5-b"), or a
// release branch ("release-v3.33").
func CalicoMinor(version string) (int, error) {
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimPrefix(version, "release-"), "v%d.%d", &major, &minor); err != nil || major != 3 {
		return 0, fmt.Errorf("calico version %q: want v3.MINOR.PATCH (a release) or release-v3.MINOR (a branch built here)", version)
	}
	return minor, nil
}

// IsCalicoRelease says whether a version names a published release (what upstream mode
// can download): not a second build (v3.28.5-b), not a branch snapshot.
func IsCalicoRelease(version string) bool {
	if version == CalicoVersion {
		return true
	}
	a, ok := CalicoSource(version)
	return ok && a.Snapshot == ""
}

// CalicoLabel is how reports, logs and flags' help name a Calico version: the version,
// and for a branch snapshot what it is ("release-v3.33 (branch release-v3.33 at
// 6609dea54713, 2026-08-21; not a release)").
func CalicoLabel(version string) string {
	if a, ok := CalicoSource(version); ok && a.Snapshot != "" {
		return version + " (" + a.Snapshot + "; not a release)"
	}
	return version
}

// CalicoRegistry is where a Calico release's manifest names its images: Docker Hub up to
// v3.30, quay.io from v3.31.0 on.
func CalicoRegistry(version string) (string, error) {
	minor, err := CalicoMinor(version)
	if err != nil {
		return "", err
	}
	if minor >= 31 {
		return "quay.io", nil
	}
	return "docker.io", nil
}

// CalicoComponents are the images a Calico release's manifest names, sorted: node, cni and
// kube-controllers up to v3.32; from v3.33 node and one calico image (CNI install,
// kube-controllers and the IPAM upgrade).
func CalicoComponents(version string) ([]string, error) {
	minor, err := CalicoMinor(version)
	if err != nil {
		return nil, err
	}
	if minor >= 33 {
		return []string{"calico", "node"}, nil
	}
	return []string{"cni", "kube-controllers", "node"}, nil
}

// NodeImage is the offline kind node image.
func NodeImage() string { return LocalRegistry + "/kind-node:" + Kubernetes }

// RegistryImage is the local registry's image (distribution's registry, built here).
func RegistryImage() string { return LocalRegistry + "/registry:" + Distribution }

// StarImage is the demo app's image.
func StarImage() string { return "netpol-e2e/star:" + StarVersion }

// CalicoUpstreamImages are the names Calico's release manifest gives its images, by
// component: what the nodes pull (through the mirror when the images are built here).
func CalicoUpstreamImages(version string) (map[string]string, error) {
	reg, err := CalicoRegistry(version)
	if err != nil {
		return nil, err
	}
	comps, err := CalicoComponents(version)
	out := map[string]string{}
	for _, c := range comps {
		out[c] = reg + "/calico/" + c + ":" + version
	}
	return out, err
}

// CalicoImages are the local names of a Calico build's images, by component (those of
// CalicoComponents; a version that does not parse has none).
func CalicoImages(version string) map[string]string {
	comps, _ := CalicoComponents(version)
	out := map[string]string{}
	for _, c := range comps {
		out[c] = LocalRegistry + "/calico/" + c + ":" + version
	}
	return out
}

// ControlPlaneImages are the images kubeadm and kind need inside the node.
func ControlPlaneImages() []string {
	k := "registry.k8s.io/"
	return []string{
		k + "kube-apiserver:" + Kubernetes,
		k + "kube-controller-manager:" + Kubernetes,
		k + "kube-scheduler:" + Kubernetes,
		k + "kube-proxy:" + Kubernetes,
		k + "etcd:" + EtcdImageTag,
		k + "coredns/coredns:" + CoreDNS,
		k + "pause:" + Pause,
		k + "pause:" + KindSandboxPause,
	}
}

// CacheDir is where build outputs are kept, outside the work tree:
// $NETPOL_CACHE, else /var/cache/netpol-e2e when writable, else the user cache dir.
func CacheDir() string {
	if d := os.Getenv("NETPOL_CACHE"); d != "" {
		return d
	}
	if err := os.MkdirAll("/var/cache/netpol-e2e", 0o755); err == nil {
		if f, err := os.CreateTemp("/var/cache/netpol-e2e", ".w"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/var/cache/netpol-e2e"
		}
	}
	d, _ := os.UserCacheDir()
	return filepath.Join(d, "netpol-e2e")
}

// CalicoManifest is the known path of a build's release manifest (calico-vxlan.yaml as
// published, adapted at install time by internal/calico).
func CalicoManifest(version string) string {
	return filepath.Join(CacheDir(), "calico", version, "calico-vxlan.yaml")
}

// Summary lists the versions, for logs and reports.
func Summary() string {
	var archives []string
	for _, a := range CalicoSources {
		what := "commit " + a.Commit[:12]
		if a.Snapshot != "" {
			what = a.Snapshot + ", not a release"
		}
		archives = append(archives, a.Version+" ("+what+")")
	}
	return fmt.Sprintf("kubernetes %s, kind %s, containerd %s, runc %s, crictl %s, cni-plugins %s, coredns %s, etcd %s, calico %s (module %s) and from source archives %s, registry (distribution) %s",
		Kubernetes, Kind, Containerd, Runc, Crictl, CNIPlugins, CoreDNS, Etcd, CalicoVersion, CalicoModule, strings.Join(archives, ", "), Distribution)
}
