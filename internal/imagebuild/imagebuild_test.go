package imagebuild

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/versions"
)

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

// The build modules pin what internal/versions pins: versions are kept in both places (a
// go.mod must name its requirement), and this keeps them equal.
func TestBuildModulesPinTheSameVersions(t *testing.T) {
	for file, want := range map[string]string{
		"../../images/gomod/kubernetes/go.mod": "require k8s.io/kubernetes " + versions.Kubernetes + "\n",
		"../../images/gomod/etcd/go.mod":       "require go.etcd.io/etcd/v3 " + versions.Etcd + "\n",
		"../../images/gomod/calico/go.mod":     "require github.com/projectcalico/calico " + versions.CalicoModule + "\n",
	} {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Contains(t, string(data), want, "%s must pin what internal/versions/versions.go pins", file)
	}
	data, err := os.ReadFile("../../images/gomod/kubernetes/go.mod")
	require.NoError(t, err)
	stage := "v0." + strings.TrimPrefix(versions.Kubernetes, "v1.")
	require.Contains(t, string(data), "k8s.io/api => k8s.io/api "+stage, "the staging modules are the release's v0.x")
}
