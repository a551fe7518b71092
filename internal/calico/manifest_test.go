package calico

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeManifest has the shape of Calico's calico-vxlan.yaml where Adapt touches it.
const fakeManifest = `kind: ConfigMap
data:
  calico_backend: "vxlan"
  cni_network_config: |-
    {
      "plugins": [
        {
          "type": "calico",
          "ipam": {
              "type": "calico-ipam"
          },
        }
      ]
    }
---
spec:
      initContainers:
        - name: install-cni
          image: docker.io/calico/cni:v3.29.7
      containers:
        - name: calico-node
          image: docker.io/calico/node:v3.29.7
          env:
            - name: CALICO_IPV4POOL_IPIP
              value: "Never"
            - name: CALICO_IPV4POOL_VXLAN
              value: "CrossSubnet"
            - name: CALICO_IPV6POOL_VXLAN
              value: "CrossSubnet"
            # - name: CALICO_IPV4POOL_CIDR
            #   value: "192.168.0.0/16"
            - name: FELIX_IPV6SUPPORT
              value: "false"
---
          image: docker.io/calico/kube-controllers:v3.29.7
`

var offline = map[string]string{"node": "l/calico/node:v9", "cni": "l/calico/cni:v9", "kube-controllers": "l/calico/kube-controllers:v9"}

func TestAdaptForKind(t *testing.T) {
	out, err := Adapt(fakeManifest, ManifestOptions{Images: offline, PodSubnet: "10.244.0.0/16"})
	require.NoError(t, err)
	require.NotContains(t, out, "docker.io/calico")
	require.Contains(t, out, "image: l/calico/node:v9")
	require.Contains(t, out, "- name: CALICO_IPV4POOL_CIDR\n              value: \"10.244.0.0/16\"")
	require.Contains(t, out, "FELIX_XDPENABLED")
	require.Contains(t, out, "- name: CALICO_IPV4POOL_VXLAN\n              value: \"Always\"")
	require.NotContains(t, out, "FELIX_NFTABLESMODE", "iptables is Felix's default")
	require.NotContains(t, out, "assign_ipv6")

	up, err := Adapt(fakeManifest, ManifestOptions{Version: "v3.29.7", PodSubnet: "10.244.0.0/16"})
	require.NoError(t, err)
	require.Contains(t, up, "image: docker.io/calico/node:v3.29.7", "upstream images stay")
}

func TestAdaptDataplaneAndFamily(t *testing.T) {
	out, err := Adapt(fakeManifest, ManifestOptions{PodSubnet: "10.244.0.0/16", PodSubnetV6: "fd00:10:244::/56", Dataplane: Nftables, Family: Dual})
	require.NoError(t, err)
	require.Contains(t, out, "- name: FELIX_NFTABLESMODE\n              value: \"Enabled\"")
	require.Contains(t, out, "- name: CALICO_IPV6POOL_CIDR\n              value: \"fd00:10:244::/56\"")
	require.Contains(t, out, "- name: IP6\n              value: \"autodetect\"")
	require.Contains(t, out, "- name: CALICO_IPV6POOL_NAT_OUTGOING\n              value: \"true\"")
	require.Contains(t, out, "- name: FELIX_IPV6SUPPORT\n              value: \"true\"")
	require.Contains(t, out, "- name: CALICO_IPV6POOL_VXLAN\n              value: \"Always\"")
	require.Contains(t, out, `"assign_ipv6": "true"`)
	require.NotContains(t, out, "CrossSubnet")
}

func TestAdaptRefusesWhatItDoesNotKnow(t *testing.T) {
	for _, tc := range []struct {
		manifest string
		o        ManifestOptions
		want     string
	}{
		{strings.Replace(fakeManifest, `"Never"`, `"Always"`, 1), ManifestOptions{}, "CALICO_IPV4POOL_IPIP"}, // this kernel has no ipip
		{fakeManifest, ManifestOptions{Version: "v3.30.0"}, "it is of Calico v3.29.7, not v3.30.0"},
		{strings.Replace(fakeManifest, "calico/node:v3.29.7", "calico/node:v3.29.8", 1), ManifestOptions{Images: offline}, "no image docker.io/calico/"},
		{strings.Replace(fakeManifest, "image: docker.io/calico/node:v3.29.7", "image: quay.io/x", 1), ManifestOptions{}, "want one docker.io/calico/node image tag, found 0"},
		{fakeManifest, ManifestOptions{Dataplane: "bpf"}, `unknown dataplane "bpf"`},
		{fakeManifest, ManifestOptions{Family: "ipv5"}, `unknown IP family "ipv5"`},
		{fakeManifest, ManifestOptions{Family: Dual}, "dual-stack needs an IPv6 pod subnet"},
		{strings.Replace(fakeManifest, `"type": "calico-ipam"`, `"type": "host-local"`, 1), ManifestOptions{Family: Dual, PodSubnetV6: "fd00::/56"}, `expected exactly one "\"ipam\"`},
	} {
		_, err := Adapt(tc.manifest, tc.o)
		require.ErrorContains(t, err, tc.want)
	}
}

func TestDataplaneEvidence(t *testing.T) {
	// What nodes of the live runs printed: an iptables node and an nftables node (the
	// README's runs); each passes for its own dataplane and fails for the other.
	ipt, err := ParseDataplane("w1", "nft-calico-chains 0\niptables-calico-rules 46\nnft-kube-proxy-chains 0\niptables-kube-proxy-rules 5\n")
	require.NoError(t, err)
	nft, err := ParseDataplane("w2", "nft-calico-chains 40\niptables-calico-rules 0\nnft-kube-proxy-chains 19\niptables-kube-proxy-rules 0\n")
	require.NoError(t, err)
	require.Empty(t, ipt.Problems(Iptables))
	require.Empty(t, nft.Problems(Nftables))
	require.Equal(t, []string{
		"node w1: Calico (Felix) is not on nftables: 0 nftables chains, 46 iptables rules (want some, and none)",
		"node w1: kube-proxy is not on nftables: 0 nftables chains, 5 iptables rules (want some, and none)",
	}, ipt.Problems(Nftables))
	require.Equal(t, []string{
		"node w2: Calico (Felix) is not on iptables: 0 iptables rules, 40 nftables chains (want some, and none)",
		"node w2: kube-proxy is not on iptables: 0 iptables rules, 19 nftables chains (want some, and none)",
	}, nft.Problems(Iptables))
	// Rules left in the other dataplane are a problem too.
	ipt.NftCalicoChains = 3
	require.Len(t, ipt.Problems(Iptables), 1)
	_, err = ParseDataplane("w1", "nft-calico-chains 0\n")
	require.ErrorContains(t, err, "printed 1 of 4 counts")
	_, err = ParseDataplane("w1", "nft-calico-chains x\n")
	require.ErrorContains(t, err, `dataplane count "nft-calico-chains x"`)
}

// The rehearsal's path: a release manifest downloaded from a server holding the release
// host's paths, checked to be of the release asked for.
func TestLoadManifestDownloadsTheRelease(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != ReleaseManifestPath("v3.29.7") {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(fakeManifest))
	}))
	defer srv.Close()
	ctx := context.Background()
	o := ManifestOptions{Version: "v3.29.7", PodSubnet: "10.244.0.0/16"}
	out, err := LoadManifest(ctx, ReleaseManifestURL(srv.URL, "v3.29.7"), o)
	require.NoError(t, err)
	require.Contains(t, string(out), "image: docker.io/calico/node:v3.29.7", "published names kept")
	require.Equal(t, "https://raw.githubusercontent.com/projectcalico/calico/v3.29.7/manifests/calico-vxlan.yaml", ReleaseManifestURL(ReleaseHost, "v3.29.7"))

	_, err = LoadManifest(ctx, ReleaseManifestURL(srv.URL, "v3.30.0"), ManifestOptions{Version: "v3.30.0", PodSubnet: "10.244.0.0/16"})
	require.ErrorContains(t, err, "404 Not Found")
	o.Version = "v3.28.5"
	_, err = LoadManifest(ctx, ReleaseManifestURL(srv.URL, "v3.29.7"), o)
	require.ErrorContains(t, err, "it is of Calico v3.29.7, not v3.28.5")
}
