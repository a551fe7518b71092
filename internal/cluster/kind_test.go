package cluster

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/images"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

func TestConfig(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no docker: no cgroup v1 patch
	k := New(Options{Name: "c", Workers: 2, PodSubnet: "10.244.0.0/16", KubeProxyMode: "nftables", KubeconfigDir: "/tmp/r"})
	cfg := k.Config()
	require.Len(t, cfg.Nodes, 3)
	require.Equal(t, v1alpha4.ControlPlaneRole, cfg.Nodes[0].Role)
	require.Equal(t, v1alpha4.WorkerRole, cfg.Nodes[2].Role)
	require.True(t, cfg.Networking.DisableDefaultCNI, "Calico replaces kindnet")
	require.Equal(t, "10.244.0.0/16", cfg.Networking.PodSubnet)
	require.Equal(t, v1alpha4.NFTablesProxyMode, cfg.Networking.KubeProxyMode)
	require.Empty(t, cfg.KubeadmConfigPatches)
	require.Equal(t, "/tmp/r/kubeconfig-c", k.Kubeconfig())
	require.Empty(t, New(Options{}).Config().Networking.KubeProxyMode, "kind's default (iptables)")
	dual := New(Options{PodSubnet: "10.244.0.0/16", Dual: true, PodSubnetV6: "fd00:10:244::/56", ServiceSubnets: "10.96.0.0/16,fd00:10:96::/112"}).Config()
	require.Equal(t, v1alpha4.DualStackFamily, dual.Networking.IPFamily)
	require.Equal(t, "10.244.0.0/16,fd00:10:244::/56", dual.Networking.PodSubnet, "Calico's two pools")
	require.Equal(t, "10.96.0.0/16,fd00:10:96::/112", dual.Networking.ServiceSubnet)
	require.Empty(t, cfg.ContainerdConfigPatches)
	patched := New(Options{ContainerdPatches: []string{"[plugins.x]\n  y = 1"}}).Config()
	require.Equal(t, []string{"[plugins.x]\n  y = 1"}, patched.ContainerdConfigPatches, "every node gets the patch (the registry mirror)")
}

// The offline node image is built at the Kubernetes version of kind's default node
// image, so the upstream rehearsal runs what users get under the tag they get.
func TestKindDefaultNodeIsThePinnedKubernetes(t *testing.T) {
	require.Equal(t, "kindest/node:"+images.Kubernetes, DefaultNodeTag(), "kind %s's default node image is %s: pin internal/images.Kubernetes to its version", images.Kind, DefaultNodeImage)
	require.Contains(t, DefaultNodeImage, "@sha256:", "kind names its default by digest")
}

// What `ctr images ls` printed in a node after kind load of calico/cni and a pull of the
// demo app (columns cut after DIGEST).
const ctrImages = `REF                                                                                               TYPE                                                 DIGEST
docker.io/netpol-e2e/star:0.1.0                                                                   application/vnd.docker.distribution.manifest.v2+json sha256:66daf3dcddb65df095be933512bf91e44013a527945595fdfcf6f8651f2109af
docker.io/netpol-e2e/star@sha256:66daf3dcddb65df095be933512bf91e44013a527945595fdfcf6f8651f2109af application/vnd.docker.distribution.manifest.v2+json sha256:66daf3dcddb65df095be933512bf91e44013a527945595fdfcf6f8651f2109af
import-2026-12-01@sha256:9b5316e8d5aa802872d436287d7a3802e75d4951b6821d79e6b8e0b887eda337         application/vnd.oci.image.index.v1+json              sha256:9b5316e8d5aa802872d436287d7a3802e75d4951b6821d79e6b8e0b887eda337
netpol-e2e.local/calico/cni:v3.28.5                                                               application/vnd.oci.image.index.v1+json              sha256:9b5316e8d5aa802872d436287d7a3802e75d4951b6821d79e6b8e0b887eda337
sha256:1d6e0c3b54a2bd3b4fd7e4f5a22e1ab1dfd1b3e52a1a4ba17d6c2b2a1a0b9c8d                           application/vnd.oci.image.index.v1+json              sha256:9b5316e8d5aa802872d436287d7a3802e75d4951b6821d79e6b8e0b887eda337
`

func TestRemoveTakesEveryReferenceToTheContent(t *testing.T) {
	require.Equal(t, []string{
		"import-2026-12-01@sha256:9b5316e8d5aa802872d436287d7a3802e75d4951b6821d79e6b8e0b887eda337",
		"netpol-e2e.local/calico/cni:v3.28.5",
		"sha256:1d6e0c3b54a2bd3b4fd7e4f5a22e1ab1dfd1b3e52a1a4ba17d6c2b2a1a0b9c8d",
	}, sameContent(ctrImages, []string{"netpol-e2e.local/calico/cni:v3.28.5", "docker.io/calico/node:v3.28.5"}),
		"kind load's import reference would keep the layers and snapshots; an image the node lacks is skipped")
	require.Empty(t, sameContent(ctrImages, []string{"docker.io/calico/node:v3.28.5"}))
}
