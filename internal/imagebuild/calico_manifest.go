package imagebuild

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/netpol-e2e/harness/internal/images"
)

// AdaptCalicoManifest turns Calico's calico-vxlan.yaml into what a kind cluster needs:
// images renamed to the given ones, the IPv4 pool set to kind's podSubnet with VXLAN Always,
// IPIP Never checked, XDP and IPv6 off. It fails if the manifest is not shaped as expected,
// rather than silently producing something else.
func AdaptCalicoManifest(manifest, upstreamVersion string, imgs map[string]string, podSubnet string) (string, error) {
	out := manifest
	for comp, img := range imgs {
		from := "docker.io/calico/" + comp + ":" + upstreamVersion
		if !strings.Contains(out, from) {
			return "", fmt.Errorf("calico manifest: no image %s to replace", from)
		}
		out = strings.ReplaceAll(out, from, img)
	}
	const poolComment = "            # - name: CALICO_IPV4POOL_CIDR\n            #   value: \"192.168.0.0/16\"\n"
	if !strings.Contains(out, poolComment) {
		return "", fmt.Errorf("calico manifest: the commented CALICO_IPV4POOL_CIDR block was not found")
	}
	out = strings.Replace(out, poolComment, fmt.Sprintf(
		"            - name: CALICO_IPV4POOL_CIDR\n              value: %q\n            - name: FELIX_XDPENABLED\n              value: \"false\"\n", podSubnet), 1)
	// The published manifest uses VXLAN CrossSubnet; all our nodes share one subnet, where
	// CrossSubnet would route natively, so force VXLAN encapsulation as the spec asks.
	vxlan := regexp.MustCompile(`(            - name: CALICO_IPV4POOL_VXLAN\n              value: )"[A-Za-z]+"\n`)
	if !vxlan.MatchString(out) {
		return "", fmt.Errorf("calico manifest: no CALICO_IPV4POOL_VXLAN setting found")
	}
	out = vxlan.ReplaceAllString(out, `${1}"Always"`+"\n")
	for _, want := range []string{
		"            - name: CALICO_IPV4POOL_IPIP\n              value: \"Never\"\n",
		"            - name: FELIX_IPV6SUPPORT\n              value: \"false\"\n",
		"  calico_backend: \"vxlan\"\n",
	} {
		if !strings.Contains(out, want) {
			return "", fmt.Errorf("calico manifest: expected %q", strings.TrimSpace(want))
		}
	}
	return out, nil
}

func (b *Builder) calicoManifest(cb *calicoBuild) (string, error) {
	version := cb.version
	raw, err := os.ReadFile(filepath.Join(cb.src, "manifests", "calico-vxlan.yaml"))
	if err != nil {
		return "", &StageError{Stage: "calico-manifest", Command: "read calico-vxlan.yaml", Err: err}
	}
	out, err := AdaptCalicoManifest(string(raw), cb.upstream, images.CalicoImages(version), images.PodSubnet)
	if err != nil {
		return "", &StageError{Stage: "calico-manifest", Command: "adapt calico-vxlan.yaml", Err: err}
	}
	path := images.CalicoManifest(version)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(out), 0o644)
}
