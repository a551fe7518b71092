package imagebuild

import (
	"os"
	"path/filepath"

	"github.com/netpol-e2e/harness/internal/versions"
)

// calicoManifest keeps the build's own release manifest (calico-vxlan.yaml, unchanged) at
// its known path; internal/calico adapts it for kind, the dataplane and the IP family when
// it installs, as it does a downloaded one.
func (b *Builder) calicoManifest(cb *calicoBuild) (string, error) {
	raw, err := os.ReadFile(filepath.Join(cb.src, "manifests", "calico-vxlan.yaml"))
	if err != nil {
		return "", &StageError{Stage: "calico-manifest", Command: "read calico-vxlan.yaml", Err: err}
	}
	path := versions.CalicoManifest(cb.version)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, raw, 0o644)
}
