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
