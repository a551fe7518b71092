package calico

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/versions"
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
          envFrom:
            - configMapRef:
                name: kubernetes-services-endpoint
                optional: true
      containers:
        - name: calico-node
          image: docker.io/calico/node:v3.29.7
          envFrom:
            - configMapRef:
                name: kubernetes-services-endpoint
                optional: true
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

func TestAdaptBPF(t *testing.T) {
	out, err := Adapt(fakeManifest, ManifestOptions{PodSubnet: "10.244.0.0/16", Dataplane: BPF})
	require.NoError(t, err)
	require.Contains(t, out, "- name: FELIX_BPFENABLED\n              value: \"true\"")
	require.NotContains(t, out, "FELIX_NFTABLESMODE")
	require.NoError(t, CheckDataplaneVersion(BPF, "v3.30.7"))
	require.NoError(t, CheckDataplaneVersion(BPF, "v3.33.1"), "an upstream release")
	require.ErrorContains(t, CheckDataplaneVersion(BPF, "release-v3.33"), "has no BPF programs")
	require.ErrorContains(t, CheckDataplaneVersion(BPF, "v3.29.7"), "without libbpf and BPF programs")
	require.ErrorContains(t, CheckDataplaneVersion(BPF, "v3.28.5-b"), "without libbpf and BPF programs")
	require.NotContains(t, out, "FELIX_BPFATTACHTYPE", "Felix's default unless asked")
	for a, env := range map[BPFAttach]string{AttachTC: "TC", AttachTCX: "TCX"} {
		out, err := Adapt(fakeManifest, ManifestOptions{PodSubnet: "10.244.0.0/16", Dataplane: BPF, BPFAttach: a})
		require.NoError(t, err)
		require.Contains(t, out, "- name: FELIX_BPFATTACHTYPE\n              value: \""+env+"\"")
	}
	out, err = Adapt(fakeManifest, ManifestOptions{PodSubnet: "10.244.0.0/16", Dataplane: Iptables, BPFAttach: AttachTC})
	require.NoError(t, err)
	require.NotContains(t, out, "FELIX_BPFATTACHTYPE", "only eBPF attaches programs")
}

// TCX is v3.31 and later (v3.30.7's felix/bpf/tc has no TCX path); tc every version has.
func TestCheckBPFAttach(t *testing.T) {
	for _, v := range []string{"v3.30.7", "v3.31.7", "v3.32.1", "v3.33.1"} {
		require.NoError(t, CheckBPFAttach(AttachTC, v))
	}
	require.NoError(t, CheckBPFAttach(AttachTCX, "v3.31.7"))
	require.NoError(t, CheckBPFAttach(AttachTCX, "v3.32.1"))
	require.ErrorContains(t, CheckBPFAttach(AttachTCX, "v3.30.7"), "calico v3.30.7 attaches its BPF programs with tc only (TCX is v3.31 and later)")
	require.ErrorContains(t, CheckBPFAttach("xdp", "v3.32.1"), `unknown attach mode "xdp" (want one of [tcx tc])`)
}

func TestAdaptRefusesWhatItDoesNotKnow(t *testing.T) {
	for _, tc := range []struct {
		manifest string
		o        ManifestOptions
		want     string
	}{
		{strings.Replace(fakeManifest, `"Never"`, `"Always"`, 1), ManifestOptions{}, "CALICO_IPV4POOL_IPIP"}, // this kernel has no ipip
		{fakeManifest, ManifestOptions{Version: "v3.30.0"}, "it is of Calico v3.29.7, not v3.30.0"},
		{strings.Replace(fakeManifest, "calico/node:v3.29.7", "calico/node:v3.29.8", 1), ManifestOptions{Images: offline}, "images of more than one release: docker.io/calico/node:v3.29.7 and docker.io/calico/node:v3.29.8"},
		{strings.Replace(fakeManifest, "image: docker.io/calico/node:v3.29.7", "image: quay.io/x", 1), ManifestOptions{}, `image "quay.io/x" is not a Calico image`},
		{strings.Replace(fakeManifest, "docker.io/calico/cni:v3.29.7", "quay.io/calico/cni:v3.29.7", 1), ManifestOptions{}, "images of more than one release"},
		{strings.Replace(fakeManifest, "image: docker.io/calico/kube-controllers:v3.29.7", "", 1), ManifestOptions{}, "its Calico images are [cni node]"},
		{strings.ReplaceAll(fakeManifest, "image: ", "#"), ManifestOptions{}, "its Calico images are []"},
		{fakeManifest, ManifestOptions{Images: map[string]string{"node": "l/n", "calico": "l/c"}}, "it names the images cni, kube-controllers, node (docker.io), the build has calico, node"},
		{fakeManifest, ManifestOptions{Dataplane: "ebpf"}, `unknown dataplane "ebpf" (want one of [iptables nftables bpf])`},
		// eBPF mode without a way to point calico-node at the API server.
		{strings.ReplaceAll(fakeManifest, "name: kubernetes-services-endpoint", "name: other"), ManifestOptions{Dataplane: BPF}, "eBPF mode needs calico-node to read the ConfigMap kubernetes-services-endpoint"},
		{fakeManifest, ManifestOptions{Family: "ipv5"}, `unknown IP family "ipv5"`},
		{fakeManifest, ManifestOptions{Family: Dual}, "dual-stack needs an IPv6 pod subnet"},
		{strings.Replace(fakeManifest, `"type": "calico-ipam"`, `"type": "host-local"`, 1), ManifestOptions{Family: Dual, PodSubnetV6: "fd00::/56"}, `expected exactly one "\"ipam\"`},
	} {
		_, err := Adapt(tc.manifest, tc.o)
		require.ErrorContains(t, err, tc.want)
	}
}

// dataplaneOutput is what DataplaneCommand prints on a node whose tools all ran, then counts.
func dataplaneOutput(counts string) string {
	return `version nft nftables v1.0.6 (Lester Gooch #5)
version iptables-legacy-save iptables-save v1.8.9 (legacy)
version iptables-nft-save iptables-nft-save v1.8.9 (nf_tables)
version ip6tables-legacy-save ip6tables-save v1.8.9 (legacy)
version ip6tables-nft-save ip6tables-nft-save v1.8.9 (nf_tables)
version bpftool bpftool v7.5.0
version ip ip utility, iproute2-6.1.0, libbpf 1.1.2
status iptables-legacy-save 0
status iptables-nft-save 0
status ip6tables-legacy-save 0
status ip6tables-nft-save 0
status nft-list-tables 0
status ip-link 0
status bpftool-net 0
` + counts
}

// noBPF is bpftool's listing of a node where no program is attached (seen in the rootfs).
const noBPF = `bpf-net [{"xdp":[],"tc":[],"flow_dissector":[],"netfilter":[]}]` + "\n"

func TestDataplaneEvidence(t *testing.T) {
	// What nodes of the live runs printed: an iptables node and an nftables node (the
	// README's runs); each passes for its own dataplane and fails for the other.
	ipt, err := ParseDataplane("w1", dataplaneOutput("nft-calico-chains 0\nnft-calico-policy-chains 0\niptables-calico-rules 46\niptables-calico-policy-rules 12\nnft-kube-proxy-chains 0\niptables-kube-proxy-rules 5\niface cali1\n"+noBPF))
	require.NoError(t, err)
	nft, err := ParseDataplane("w2", dataplaneOutput("status nft-list-table-ip-calico 0\nnft-calico-chains 40\nnft-calico-policy-chains 9\niptables-calico-rules 0\niptables-calico-policy-rules 0\nnft-kube-proxy-chains 19\niptables-kube-proxy-rules 0\n"+noBPF))
	require.NoError(t, err)
	require.Equal(t, "nftables v1.0.6 (Lester Gooch #5)", nft.Tools["nft"], "the tool's version is recorded")
	require.Contains(t, nft.String(), "read with nftables v1.0.6")
	require.Empty(t, ipt.Problems(Iptables, ""))
	require.Empty(t, nft.Problems(Nftables, ""))
	require.Equal(t, []string{
		"node w1: Calico (Felix) is not on nftables: 0 nftables chains, 46 iptables rules (want some, and none)",
		"node w1: kube-proxy is not on nftables: 0 nftables chains, 5 iptables rules (want some, and none)",
	}, ipt.Problems(Nftables, ""))
	require.Equal(t, []string{
		"node w2: Calico (Felix) is not on iptables: 0 iptables rules, 40 nftables chains (want some, and none)",
		"node w2: kube-proxy is not on iptables: 0 iptables rules, 19 nftables chains (want some, and none)",
	}, nft.Problems(Iptables, ""))
	// Rules left in the other dataplane are a problem too.
	ipt.NftCalicoChains = 3
	require.Len(t, ipt.Problems(Iptables, ""), 1)
	_, err = ParseDataplane("w1", dataplaneOutput("nft-calico-chains 0\n"+noBPF))
	require.ErrorContains(t, err, "printed 1 of 6 counts")
	_, err = ParseDataplane("w1", dataplaneOutput("nft-calico-chains x\n"))
	require.ErrorContains(t, err, `dataplane count "nft-calico-chains x"`)
}

// "No rules" is told from "could not look": a missing tool, or one that failed, is an
// error even where every count reads 0 (which would pass as "none in the other dataplane").
func TestDataplaneToolMissingOrFailedIsNotNoRules(t *testing.T) {
	zero := "nft-calico-chains 0\nnft-calico-policy-chains 0\niptables-calico-rules 46\niptables-calico-policy-rules 0\nnft-kube-proxy-chains 0\niptables-kube-proxy-rules 5\n" + noBPF
	for _, tc := range []struct{ from, to, want string }{
		{"version nft nftables v1.0.6 (Lester Gooch #5)", "missing nft", "nft is missing"},
		{"status nft-list-tables 0", "status nft-list-tables 1", "nft-list-tables exited 1"},
		{"status iptables-legacy-save 0", "status iptables-legacy-save 127", "iptables-legacy-save exited 127"},
		{"status nft-list-tables 0\n", "status nft-list-tables 0\nstatus nft-list-table-ip-calico 1\n", "nft-list-table-ip-calico exited 1"},
		{"version ip6tables-nft-save ip6tables-nft-save v1.8.9 (nf_tables)\n", "", "printed no version of ip6tables-nft-save"},
		// No bpftool, or a failed listing, is not "no programs attached".
		{"version bpftool bpftool v7.5.0", "missing bpftool", "bpftool is missing"},
		{"status bpftool-net 0", "status bpftool-net 255", "bpftool-net exited 255"},
		{"status ip-link 0", "status ip-link 1", "ip-link exited 1"},
		{noBPF, "", "printed no bpftool listing"},
		{noBPF, "bpf-net [{\"tc\":", "bpftool net show"},
	} {
		out := strings.Replace(dataplaneOutput(zero), tc.from, tc.to, 1)
		_, err := ParseDataplane("w1", out)
		require.ErrorContains(t, err, tc.want)
	}
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

// The six manifests Calico published for the releases built here, verbatim: the module's
// (v3.28.5) and each source archive's. Expected layouts are from the archives' README in
// the shared sources folder, not from the adapter.
func TestAdaptEveryReleaseManifest(t *testing.T) {
	for _, tc := range releaseManifests {
		t.Run(tc.version, func(t *testing.T) {
			manifest := releaseManifest(t, tc.version, tc.archive)
			l, err := ManifestLayout(manifest)
			require.NoError(t, err)
			require.Equal(t, tc.want, l)
			local := map[string]string{}
			for _, c := range l.Components {
				local[c] = "l/calico/" + c + ":x"
			}
			for _, o := range []ManifestOptions{
				{Images: local, PodSubnet: "10.244.0.0/16", Family: IPv4},
				{Version: tc.version, PodSubnet: "10.244.0.0/16", PodSubnetV6: "fd00:10:244::/56", Dataplane: Nftables, Family: Dual},
			} {
				out, err := Adapt(manifest, o)
				require.NoError(t, err)
				if o.Images != nil {
					require.NotContains(t, out, "/calico/node:"+tc.version)
					for _, c := range l.Components {
						require.Contains(t, out, "image: l/calico/"+c+":x")
					}
				} else {
					require.Contains(t, out, "image: "+l.Image("node"), "published names kept")
					require.Contains(t, out, "- name: FELIX_NFTABLESMODE\n              value: \"Enabled\"")
					require.Contains(t, out, "- name: CALICO_IPV6POOL_CIDR\n              value: \"fd00:10:244::/56\"")
					require.Contains(t, out, "- name: CALICO_IPV6POOL_VXLAN\n              value: \"Always\"")
					require.Contains(t, out, `"assign_ipv6": "true"`)
					require.False(t, strings.Contains(out, `value: "CrossSubnet"`), "a CrossSubnet left: %q", regexp.MustCompile(`.*\n.*CrossSubnet.*`).FindAllString(out, -1))
				}
				require.Contains(t, out, "- name: CALICO_IPV4POOL_CIDR\n              value: \"10.244.0.0/16\"")
				require.Contains(t, out, "- name: CALICO_IPV4POOL_VXLAN\n              value: \"Always\"")
			}
		})
	}
}

// Every Calico release the nightly workflow names has, by internal/versions (what the
// mirror serves and the pushes name), the registry and images that its line's published
// manifest has: an upstream job cannot meet a manifest shape the harness does not expect.
func TestNightlyNamesReleasesOfKnownManifestShape(t *testing.T) {
	wf, err := os.ReadFile("../../.github/workflows/nightly.yml")
	require.NoError(t, err)
	named := regexp.MustCompile(`\bv3\.(\d+)\.\d+\b`).FindAllStringSubmatch(string(wf), -1)
	require.NotEmpty(t, named)
	for _, m := range named {
		version := m[0]
		var line *releaseManifestCase
		for i, tc := range releaseManifests {
			if strings.HasPrefix(strings.TrimPrefix(tc.version, "release-"), "v3."+m[1]+".") || tc.version == "release-v3."+m[1] {
				line = &releaseManifests[i]
			}
		}
		require.NotNil(t, line, "nightly names %s: no manifest of the v3.%s line is known here", version, m[1])
		reg, err := versions.CalicoRegistry(version)
		require.NoError(t, err)
		comps, err := versions.CalicoComponents(version)
		require.NoError(t, err)
		require.Equal(t, line.want.Registry, reg, version)
		require.Equal(t, line.want.Components, comps, version)
		ups, err := versions.CalicoUpstreamImages(version)
		require.NoError(t, err)
		want := Layout{Registry: reg, Version: version, Components: comps}
		for _, c := range comps {
			require.Equal(t, want.Image(c), ups[c])
		}
	}
}

type releaseManifestCase struct {
	version, archive string // archive "": the module
	want             Layout
}

// releaseManifests are the six manifests, with the layouts the shared sources' README
// gives for each line.
var releaseManifests = []releaseManifestCase{
	{"v3.28.5", "", Layout{"docker.io", "v3.28.5", []string{"cni", "kube-controllers", "node"}}},
	{"v3.29.7", "calico-v3.29.7.tar.gz", Layout{"docker.io", "v3.29.7", []string{"cni", "kube-controllers", "node"}}},
	{"v3.30.7", "calico-v3.30.7.tar.gz", Layout{"docker.io", "v3.30.7", []string{"cni", "kube-controllers", "node"}}},
	{"v3.31.7", "calico-v3.31.7.tar.gz", Layout{"quay.io", "v3.31.7", []string{"cni", "kube-controllers", "node"}}},
	{"v3.32.1", "calico-v3.32.1.tar.gz", Layout{"quay.io", "v3.32.1", []string{"cni", "kube-controllers", "node"}}},
	{"release-v3.33", "calico-release-v3.33-6609dea.tar.gz", Layout{"quay.io", "release-v3.33", []string{"calico", "node"}}},
}

// releaseManifest reads manifests/calico-vxlan.yaml of a release: from its source archive in
// the shared sources folder (NETPOL_SOURCES), or from the served Calico module.
func releaseManifest(t *testing.T, version, archive string) string {
	t.Helper()
	if archive == "" {
		out, err := exec.Command("go", "mod", "download", "-json", "github.com/projectcalico/calico@v1.11.0-cni-plugin.0.20250813170300-a0db560f0520").Output()
		require.NoError(t, err, "the Calico module (%s)", version)
		var m struct{ Dir string }
		require.NoError(t, json.Unmarshal(out, &m))
		data, err := os.ReadFile(filepath.Join(m.Dir, "manifests", "calico-vxlan.yaml"))
		require.NoError(t, err)
		return string(data)
	}
	dir := os.Getenv("NETPOL_SOURCES")
	if dir == "" {
		dir = "../../../shared/sources"
	}
	f, err := os.Open(filepath.Join(dir, archive))
	if os.IsNotExist(err) {
		t.Skipf("%s is not in %s (set NETPOL_SOURCES)", archive, dir)
	}
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		require.NoError(t, err, "no manifests/calico-vxlan.yaml in %s", archive)
		if strings.HasSuffix(h.Name, "/manifests/calico-vxlan.yaml") {
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			return string(data)
		}
	}
}

// An eBPF node as DataplaneCommand printed it in a live run (.ci/run's rehearsal pass on
// eBPF, 2026-12-03, worker node): it passes for bpf and fails for the other two; with one
// workload interface's egress program gone, or a policy chain left in iptables, bpf fails
// naming it.
func TestDataplaneEvidenceBPF(t *testing.T) {
	raw, err := os.ReadFile("testdata/dataplane-bpf-node.txt")
	require.NoError(t, err)
	out := string(raw)
	d, err := ParseDataplane("w1", out)
	require.NoError(t, err)
	require.Len(t, d.Workloads, 3)
	require.Empty(t, d.Problems(BPF, AttachTCX))
	require.Contains(t, d.String(), "Calico BPF programs on 7 interfaces (3 workload interfaces)")
	for _, other := range []Dataplane{Iptables, Nftables} {
		p := d.Problems(other, AttachTCX)
		require.Contains(t, strings.Join(p, "\n"), "node w1: Calico BPF programs attached on "+string(other))
		require.Contains(t, strings.Join(p, "\n"), "node w1: kube-proxy is not on "+string(other))
	}
	w := d.Workloads[0]
	d.CalicoBPF[w] = []string{"tcx/ingress"}
	require.Equal(t, []string{"node w1: workload interface " + w + " has no Calico BPF program on egress attached by tcx (attached: [tcx/ingress])"}, d.Problems(BPF, AttachTCX))
	d, err = ParseDataplane("w1", strings.Replace(out, "iptables-calico-policy-rules 0", "iptables-calico-policy-rules 4", 1))
	require.NoError(t, err)
	require.Equal(t, []string{"node w1: Calico policy in iptables or nftables on eBPF: 4 iptables rules, 0 nftables chains in cali-(pi|po|pri|pro|tw|fw)- chains (want none)"}, d.Problems(BPF, AttachTCX))
	// Judged against tc, this TCX node fails on every workload interface, both ways.
	p := strings.Join(d.Problems(BPF, AttachTC), "\n")
	require.Contains(t, p, "has no Calico BPF program on ingress attached by clsact (attached: [tcx/ingress tcx/egress])")
	require.Contains(t, p, "has Calico BPF programs attached otherwise than by clsact: [tcx/ingress tcx/egress]")
	// A program that is not Calico's does not count.
	d, err = ParseDataplane("w1", strings.ReplaceAll(out, `"name":"cali_tc_preamble"`, `"name":"other_prog"`))
	require.NoError(t, err)
	require.Contains(t, strings.Join(d.Problems(BPF, AttachTCX), "\n"), "node w1: no Calico BPF program attached to any interface")
}

// A node of the eBPF dataplane with Felix's bpfAttachType TC, as DataplaneCommand printed
// it live (v3.31.7, worker node, 2026-12-03, after FELIX_BPFATTACHTYPE=TC): it passes for
// tc and fails for TCX, every workload interface named.
func TestDataplaneEvidenceBPFTC(t *testing.T) {
	raw, err := os.ReadFile("testdata/dataplane-bpf-tc-node.txt")
	require.NoError(t, err)
	d, err := ParseDataplane("w1", string(raw))
	require.NoError(t, err)
	require.Len(t, d.Workloads, 4)
	require.Empty(t, d.Problems(BPF, AttachTC))
	p := d.Problems(BPF, AttachTCX)
	require.Len(t, p, 2*len(d.Workloads)+len(d.Workloads), strings.Join(p, "\n"))
	require.Contains(t, strings.Join(p, "\n"), "node w1: workload interface "+d.Workloads[0]+" has no Calico BPF program on egress attached by tcx (attached: [clsact/ingress clsact/egress])")
}
