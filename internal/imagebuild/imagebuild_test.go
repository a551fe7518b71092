package imagebuild

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/images"
)

const fakeManifest = `kind: ConfigMap
data:
  calico_backend: "vxlan"
---
spec:
      initContainers:
        - name: install-cni
          image: docker.io/calico/cni:v3.28.5
      containers:
        - name: calico-node
          image: docker.io/calico/node:v3.28.5
          env:
            - name: CALICO_IPV4POOL_IPIP
              value: "Never"
            - name: CALICO_IPV4POOL_VXLAN
              value: "CrossSubnet"
            # - name: CALICO_IPV4POOL_CIDR
            #   value: "192.168.0.0/16"
            - name: FELIX_IPV6SUPPORT
              value: "false"
---
          image: docker.io/calico/kube-controllers:v3.28.5
`

func TestAdaptCalicoManifest(t *testing.T) {
	imgs := map[string]string{"node": "l/calico/node:v9", "cni": "l/calico/cni:v9", "kube-controllers": "l/calico/kube-controllers:v9"}
	out, err := AdaptCalicoManifest(fakeManifest, "v3.28.5", imgs, "10.244.0.0/16")
	require.NoError(t, err)
	require.NotContains(t, out, "docker.io/calico")
	require.Contains(t, out, "image: l/calico/node:v9")
	require.Contains(t, out, "- name: CALICO_IPV4POOL_CIDR\n              value: \"10.244.0.0/16\"")
	require.Contains(t, out, "FELIX_XDPENABLED")
	require.Contains(t, out, "- name: CALICO_IPV4POOL_VXLAN\n              value: \"Always\"")
	require.NotContains(t, out, "CrossSubnet")

	_, err = AdaptCalicoManifest(strings.Replace(fakeManifest, `"Never"`, `"Always"`, 1), "v3.28.5", imgs, "10.244.0.0/16")
	require.ErrorContains(t, err, "CALICO_IPV4POOL_IPIP", "an IPIP manifest is refused: this kernel has no ipip")
	_, err = AdaptCalicoManifest(fakeManifest, "v3.29.0", imgs, "10.244.0.0/16")
	require.ErrorContains(t, err, "no image docker.io/calico/")
}

func TestKeyChangesWithRecipeAndVersion(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "recipe.sh")
	require.NoError(t, os.WriteFile(f, []byte("echo a"), 0o644))
	b := &Builder{}
	k1, err := b.key("stage", "v1", "file:"+dir)
	require.NoError(t, err)
	k2, _ := b.key("stage", "v1", "file:"+dir)
	require.Equal(t, k1, k2)
	k3, _ := b.key("stage", "v2", "file:"+dir)
	require.NotEqual(t, k1, k3)
	require.NoError(t, os.WriteFile(f, []byte("echo b"), 0o644))
	k4, _ := b.key("stage", "v1", "file:"+dir)
	require.NotEqual(t, k1, k4)
	_, err = b.key("file:" + filepath.Join(dir, "missing"))
	require.Error(t, err)
}

func TestDirStageCachesAndNamesFailures(t *testing.T) {
	b := &Builder{Cache: t.TempDir(), Out: &strings.Builder{}}
	calls := 0
	for range 2 {
		out, err := b.dirStage("s", "k1", func(out string) error {
			calls++
			return os.WriteFile(filepath.Join(out, "bin"), []byte("x"), 0o644)
		})
		require.NoError(t, err)
		require.FileExists(t, filepath.Join(out, "bin"))
	}
	require.Equal(t, 1, calls, "the second run is cached")

	err := b.run(t.Context(), "broken", "", nil, nil, "sh", "-c", "echo go: downloading x; echo 'write /x: no space left on device'; exit 3")
	var se *StageError
	require.True(t, errors.As(err, &se))
	require.Contains(t, err.Error(), "stage broken: sh -c")
	require.Contains(t, err.Error(), "no space left on device")
	require.Contains(t, err.Error(), "what to do: the disk is full")
	_, err = b.dirStage("s2", "k2", func(string) error { return errors.New("boom") })
	require.Error(t, err)
	require.NoDirExists(t, filepath.Join(b.Cache, "stages", "s2-k2"), "a failed stage leaves no output behind")
}

// The build modules pin what internal/images pins: versions are kept in both places (a
// go.mod must name its requirement), and this keeps them equal.
func TestBuildModulesPinTheSameVersions(t *testing.T) {
	for file, want := range map[string]string{
		"../../images/gomod/kubernetes/go.mod": "require k8s.io/kubernetes " + images.Kubernetes + "\n",
		"../../images/gomod/etcd/go.mod":       "require go.etcd.io/etcd/v3 " + images.Etcd + "\n",
		"../../images/gomod/calico/go.mod":     "require github.com/projectcalico/calico " + images.CalicoModule + "\n",
	} {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Contains(t, string(data), want, "%s must pin what internal/images/versions.go pins", file)
	}
	data, err := os.ReadFile("../../images/gomod/kubernetes/go.mod")
	require.NoError(t, err)
	stage := "v0." + strings.TrimPrefix(images.Kubernetes, "v1.")
	require.Contains(t, string(data), "k8s.io/api => k8s.io/api "+stage, "the staging modules are the release's v0.x")
}
