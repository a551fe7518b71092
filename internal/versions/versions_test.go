package versions

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A branch snapshot parses like its line, names the v3.33 layout's two images, and is
// never taken for a release.
func TestCalicoBranchIsLabelledAndNoRelease(t *testing.T) {
	minor, err := CalicoMinor(CalicoBranch)
	require.NoError(t, err)
	require.Equal(t, 33, minor)
	require.Equal(t, map[string]string{
		"calico": LocalRegistry + "/calico/calico:release-v3.33",
		"node":   LocalRegistry + "/calico/node:release-v3.33",
	}, CalicoImages(CalicoBranch))
	up, err := CalicoUpstreamImages(CalicoBranch)
	require.NoError(t, err)
	require.Equal(t, "quay.io/calico/calico:release-v3.33", up["calico"])
	require.False(t, IsCalicoRelease(CalicoBranch))
	require.False(t, IsCalicoRelease(CalicoUpgradeBuild))
	require.True(t, IsCalicoRelease(CalicoDefault))
	require.True(t, IsCalicoRelease(CalicoVersion))
	require.Equal(t, "release-v3.33 (branch release-v3.33 at 6609dea54713, 2026-08-21; not a release)", CalicoLabel(CalicoBranch))
	require.Equal(t, "v3.32.1", CalicoLabel("v3.32.1"))
	a, ok := CalicoSource(CalicoBranch)
	require.True(t, ok)
	require.Equal(t, "calico-release-v3.33-6609dea.tar.gz", a.File) // as ../shared/sources names it
	require.Equal(t, CalicoBranch, CalicoReleases()[len(CalicoReleases())-1])
}

// What is not a Calico version is one clear error; releases up to v3.32 name three images.
func TestCalicoMinorRefusesOtherNames(t *testing.T) {
	for _, v := range []string{"3.32.1", "v4.0.0", "release-3.33", "main"} {
		_, err := CalicoMinor(v)
		require.Error(t, err, v)
	}
	require.Len(t, CalicoImages("v3.31.7"), 3)
	require.Empty(t, CalicoImages("main"))
}
