package strictyaml

import (
	"testing"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
)

func TestFieldNamesAreCaseSensitive(t *testing.T) {
	var p networkingv1.NetworkPolicy
	require.NoError(t, Unmarshal([]byte("spec:\n  podSelector: {}\n"), &p))
	err := Unmarshal([]byte("spec:\n  PODSELECTOR: {}\n"), &p)
	require.ErrorContains(t, err, `unknown field "spec.PODSELECTOR"`)
	err = Unmarshal([]byte("SPEC:\n  podSelector: {}\n"), &p)
	require.ErrorContains(t, err, `unknown field "SPEC"`)
	err = Unmarshal([]byte("spec:\n  podSelector: {}\n  podSelector: {}\n"), &p)
	require.Error(t, err, "duplicate key")
	err = Unmarshal([]byte("spec: [\n"), &p)
	require.ErrorContains(t, err, "yaml: line")
}
