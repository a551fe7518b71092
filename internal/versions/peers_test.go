package versions

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The conformance follows the admin API each Calico line enforces (README, admin policies).
func TestNetworkPolicyAPIForFollowsCalicosAdminAPI(t *testing.T) {
	for v, want := range map[string]NetworkPolicyAPI{
		"v3.29.7":       {Module: "v0.1.5", Profiles: []string{"AdminNetworkPolicy", "BaselineAdminNetworkPolicy"}},
		"v3.31.7":       {Module: "v0.1.5", Profiles: []string{"AdminNetworkPolicy", "BaselineAdminNetworkPolicy"}},
		"v3.32.1":       {Module: "v0.2.0", Profiles: []string{"ClusterNetworkPolicy"}},
		"release-v3.33": {Module: "v0.2.0", Profiles: []string{"ClusterNetworkPolicy"}},
	} {
		got, err := NetworkPolicyAPIFor(v)
		require.NoError(t, err, v)
		require.Equal(t, want, got, v)
	}
	_, err := NetworkPolicyAPIFor("v3.28.5")
	require.ErrorContains(t, err, "enforces no admin network policy API")
	_, err = NetworkPolicyAPIFor("latest")
	require.Error(t, err)
}
