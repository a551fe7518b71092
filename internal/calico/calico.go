package calico

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/httpget"
	"github.com/netpol-e2e/harness/internal/kube"
)

// ReleaseHost is where published Calico releases keep their manifests.
const ReleaseHost = "https://raw.githubusercontent.com"

// ReleaseManifestPath is the path of a release's VXLAN manifest on ReleaseHost.
func ReleaseManifestPath(version string) string {
	return "/projectcalico/calico/" + version + "/manifests/calico-vxlan.yaml"
}

// ReleaseManifestURL is a release's VXLAN manifest at host (ReleaseHost, or a local
// server holding the same paths: the upstream rehearsal).
func ReleaseManifestURL(host, version string) string { return host + ReleaseManifestPath(version) }

// LoadManifest reads a published calico-vxlan.yaml from a file (an offline build's, or
// -calico-manifest) or an https URL, and adapts it (Adapt).
func LoadManifest(ctx context.Context, src string, o ManifestOptions) ([]byte, error) {
	raw, err := readManifest(ctx, src)
	if err != nil {
		return nil, err
	}
	out, err := Adapt(string(raw), o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return []byte(out), nil
}

func readManifest(ctx context.Context, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "https://") && !strings.HasPrefix(src, "http://") {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("calico manifest %s: %w (run `make images` for the offline one, or pass -calico-manifest)", src, err)
		}
		return data, nil
	}
	data, err := httpget.Read(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("download calico manifest: %w (no internet? use -image-source=offline, or rehearsal)", err)
	}
	return data, nil
}

// Timings are what Install measured.
type Timings struct {
	Applied, Ready time.Duration
}

// Install applies the manifest and waits for Calico and every node to be ready.
func Install(ctx context.Context, c *kube.Client, manifest []byte, log io.Writer) (Timings, error) {
	var t Timings
	t0 := time.Now()
	objs, err := kube.DecodeYAML("calico manifest", manifest)
	if err != nil {
		return t, err
	}
	if err := c.Apply(ctx, objs...); err != nil {
		return t, fmt.Errorf("install calico: %w", err)
	}
	t.Applied = time.Since(t0)
	fmt.Fprintf(log, "calico manifest applied (%d objects) in %.1fs; waiting for calico-node on every node\n", len(objs), t.Applied.Seconds())
	if err := Wait(ctx, c, 5*time.Minute); err != nil {
		return t, err
	}
	t.Ready = time.Since(t0)
	fmt.Fprintf(log, "calico ready %.1fs after apply\n", t.Ready.Seconds())
	return t, nil
}

// Wait waits for calico-node, calico-kube-controllers, the nodes and CoreDNS.
func Wait(ctx context.Context, c *kube.Client, timeout time.Duration) error {
	if err := WaitRolledOut(ctx, c, timeout); err != nil {
		return err
	}
	if err := c.WaitNodesReady(ctx, timeout); err != nil {
		return fmt.Errorf("calico: %w", err)
	}
	return c.WaitDeployments(ctx, timeout, "kube-system/coredns")
}
