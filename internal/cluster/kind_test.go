package cluster

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/versions"
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
	require.Equal(t, "kindest/node:"+versions.Kubernetes, DefaultNodeTag(), "kind %s's default node image is %s: pin internal/versions.Kubernetes to its version", versions.Kind, DefaultNodeImage)
	require.Contains(t, DefaultNodeImage, "@sha256:", "kind names its default by digest")
}

// What `ctr images ls` printed in a node after kind load of calico/kube-controllers, with
// the demo app pulled (columns cut after DIGEST): kind load's import reference is to the
// index, the name and the CRI's ID reference to the manifest in it.
const ctrImages = `REF                                                                                               TYPE                                                 DIGEST
docker.io/netpol-e2e/star:0.1.0                                                                   application/vnd.docker.distribution.manifest.v2+json sha256:66daf3dcddb65df095be933512bf91e44013a527945595fdfcf6f8651f2109af
docker.io/netpol-e2e/star@sha256:66daf3dcddb65df095be933512bf91e44013a527945595fdfcf6f8651f2109af application/vnd.docker.distribution.manifest.v2+json sha256:66daf3dcddb65df095be933512bf91e44013a527945595fdfcf6f8651f2109af
import-2026-12-01@sha256:9b5316e8d5aa802872d436287d7a3802e75d4951b6821d79e6b8e0b887eda337         application/vnd.oci.image.index.v1+json              sha256:9b5316e8d5aa802872d436287d7a3802e75d4951b6821d79e6b8e0b887eda337
import-2026-12-01@sha256:60c622de5f5931a6a05599a29ae68adfbf4931a8bb3a813a6b11ce37aafa5b78         application/vnd.oci.image.index.v1+json              sha256:60c622de5f5931a6a05599a29ae68adfbf4931a8bb3a813a6b11ce37aafa5b78
netpol-e2e.local/calico/kube-controllers:v3.28.5                                                  application/vnd.docker.distribution.manifest.v2+json sha256:8ca976e2defbe85c132401b31982f7161335a23b7997045b6f9c07e0e34f91e2
sha256:4862ab263caf308c5e6d49aa5973c46e066e2035e39460f76b3e5412702979d3                           application/vnd.docker.distribution.manifest.v2+json sha256:8ca976e2defbe85c132401b31982f7161335a23b7997045b6f9c07e0e34f91e2
`

func TestRemoveTakesEveryReferenceToTheContent(t *testing.T) {
	indexes := map[string]string{
		"sha256:9b5316e8d5aa802872d436287d7a3802e75d4951b6821d79e6b8e0b887eda337": `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:8ca976e2defbe85c132401b31982f7161335a23b7997045b6f9c07e0e34f91e2","size":949}]}`,
		"sha256:60c622de5f5931a6a05599a29ae68adfbf4931a8bb3a813a6b11ce37aafa5b78": `{"schemaVersion":2,"manifests":[{"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}]}`,
	}
	var asked []string
	indexed := func(d string) ([]string, error) {
		asked = append(asked, d)
		return indexManifests([]byte(indexes[d]))
	}
	refs, err := sameContent(ctrImages, []string{"netpol-e2e.local/calico/kube-controllers:v3.28.5", "docker.io/calico/node:v3.28.5"}, indexed)
	require.NoError(t, err)
	require.Equal(t, []string{
		"import-2026-12-01@sha256:9b5316e8d5aa802872d436287d7a3802e75d4951b6821d79e6b8e0b887eda337",
		"netpol-e2e.local/calico/kube-controllers:v3.28.5",
		"sha256:4862ab263caf308c5e6d49aa5973c46e066e2035e39460f76b3e5412702979d3",
	}, refs, "kind load's index would keep the layers and snapshots; another image's index stays; an image the node lacks is skipped")
	require.Len(t, asked, 2, "only indexes are read")
	refs, err = sameContent(ctrImages, []string{"docker.io/calico/node:v3.28.5"}, indexed)
	require.NoError(t, err)
	require.Empty(t, refs)
	_, err = indexManifests([]byte("not json"))
	require.ErrorContains(t, err, "image index")
}
