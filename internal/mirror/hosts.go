package mirror

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// HostsDir is where the nodes' containerd looks for per-registry hosts.toml files.
const HostsDir = "/etc/containerd/certs.d"

// ContainerdPatch is the kind containerdConfigPatches entry that makes the CRI image
// service read HostsDir (kind's node image uses containerd's version 2 configuration,
// which containerd 2 migrates).
const ContainerdPatch = `[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "` + HostsDir + `"`

// Fallback says whether a registry name the mirror lacks is fetched from upstream.
type Fallback bool

const (
	// NoFallback makes the mirror the registry: nothing leaves this machine (offline images,
	// and the upstream rehearsal, whose only difference from a user's run is where bytes
	// come from).
	NoFallback Fallback = false
	// UpstreamFallback tries the mirror first, then the registry itself (upstream mode with
	// internet: Calico's images from Docker Hub, the demo app from the mirror).
	UpstreamFallback Fallback = true
)

// upstreamServers are the registries the manifests name, with the server containerd
// would use for each.
var upstreamServers = map[string]string{
	"docker.io": "https://registry-1.docker.io", // Calico up to v3.30
	"quay.io":   "https://quay.io",              // Calico from v3.31
	// agnhost, the peer suites' probe (the control plane's images are in the node image).
	"registry.k8s.io": "https://registry.k8s.io",
}

// Registries are the registry names the mirror stands in for.
func Registries() []string { return slices.Sorted(maps.Keys(upstreamServers)) }

// HostsTOML is the hosts.toml of one registry name (docker.io...) that sends pulls to
// mirrorURL (http://NAME:PORT, on kind's network).
func HostsTOML(registry, mirrorURL string, fb Fallback) (string, error) {
	upstream, ok := upstreamServers[registry]
	if !ok {
		return "", fmt.Errorf("mirror: no upstream server known for registry %q", registry)
	}
	if !strings.HasPrefix(mirrorURL, "http://") && !strings.HasPrefix(mirrorURL, "https://") {
		return "", fmt.Errorf("mirror: %q is not an http(s) URL", mirrorURL)
	}
	if fb == NoFallback {
		// The mirror as the registry's server: a name it lacks fails to pull, naming it,
		// instead of reaching out to the internet.
		return fmt.Sprintf("# %s served by the local registry only\nserver = %q\n", registry, mirrorURL), nil
	}
	return fmt.Sprintf("# %s: the local registry first, then %s\nserver = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n",
		registry, upstream, upstream, mirrorURL), nil
}

// HostsPath is where a registry's hosts.toml goes in a node.
func HostsPath(registry string) string { return HostsDir + "/" + registry + "/hosts.toml" }

// RepoPath is the path of an image reference inside its registry, the way containerd
// asks a mirror for it: "docker.io/calico/node:v3.29.7" and "calico/node:v3.29.7" are
// "calico/node:v3.29.7"; "netpol-e2e/star:0.1.0" is itself. It fails for references of
// registries the mirror does not stand in for.
func RepoPath(ref string) (string, error) {
	first, rest, found := strings.Cut(ref, "/")
	if !found {
		return "library/" + ref, nil // Docker Hub's official images
	}
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return ref, nil // docker.io implied
	}
	for _, r := range Registries() {
		if first == r {
			return rest, nil
		}
	}
	return "", fmt.Errorf("mirror: %s is in registry %s, which the local registry does not mirror (it mirrors %s)", ref, first, strings.Join(Registries(), ", "))
}
