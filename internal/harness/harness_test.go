package harness

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/scenario"
)

// The proof and control files are read only on a live run: check them here, without one.
func TestLiveOnlyFilesLoadAndConvert(t *testing.T) {
	for _, f := range []string{
		"manifests/proof/proof.yaml", "policies/controls/proof-default-deny.yaml",
		"policies/controls/pci-policy-without-dns.yaml", "policies/controls/backend-policy-wrong-port.yaml",
	} {
		objs, err := scenario.LoadObjects(filepath.Join("../..", f))
		require.NoError(t, err, f)
		us, err := Unstructured(objs)
		require.NoError(t, err, f)
		for _, u := range us {
			require.NotEmpty(t, u.GetKind())
			require.NotEmpty(t, u.GetAPIVersion())
		}
	}
}
