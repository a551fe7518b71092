package calico

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/versions"
)

// Dataplane is the Linux dataplane Felix programs policy into.
type Dataplane string

const (
	// Iptables is Felix's default dataplane (and kube-proxy's iptables mode).
	Iptables Dataplane = "iptables"
	// Nftables is Felix's nftables mode (Calico v3.29 and later), beside kube-proxy's
	// nftables mode.
	Nftables Dataplane = "nftables"
	// BPF is Felix's eBPF mode (our builds v3.30.7 to v3.32.1: calico-node with cgo and
	// libbpf, and the BPF programs; any upstream release). Calico replaces kube-proxy: the cluster has none, and
	// calico-node reaches the API server directly (ServicesEndpoint).
	BPF Dataplane = "bpf"
)

// Dataplanes are the values -dataplane takes.
var Dataplanes = []Dataplane{Iptables, Nftables, BPF}

// BPFAttach is how Felix's eBPF mode attaches its programs to an interface
// (FelixConfiguration bpfAttachType, FELIX_BPFATTACHTYPE).
type BPFAttach string

const (
	// AttachTCX is Felix's default from v3.31 where the kernel has TCX (6.6 and later):
	// BPF links, which bpftool lists as "tcx/ingress" and "tcx/egress". On every Calico
	// built here (v3.31.7, v3.32.1, the v3.33 branch) a change to the policies of a
	// workload re-attaches all its programs and, while it does, new connections of that
	// pod are dropped for a few milliseconds (docs/dataplanes.md, "TCX").
	AttachTCX BPFAttach = "tcx"
	// AttachTC is the legacy clsact qdisc ("clsact/ingress", "clsact/egress"), the only
	// mode of v3.30 and earlier: a policy change replaces the policy program in place, but
	// a restarted Felix still re-attaches every pod's programs with the same window.
	AttachTC BPFAttach = "tc"
)

// BPFAttaches are the values -bpf-attach takes.
var BPFAttaches = []BPFAttach{AttachTCX, AttachTC}

// Kind is the attachment kind bpftool's "net show" gives programs attached this way.
func (a BPFAttach) Kind() string {
	if a == AttachTC {
		return "clsact"
	}
	return "tcx"
}

// CheckBPFAttach says whether a version of Calico can attach its programs that way.
func CheckBPFAttach(a BPFAttach, version string) error {
	if !slices.Contains(BPFAttaches, a) {
		return fmt.Errorf("unknown attach mode %q (want one of %v)", a, BPFAttaches)
	}
	minor, err := versions.CalicoMinor(version)
	if err != nil {
		return err
	}
	if a == AttachTCX && minor < 31 {
		return fmt.Errorf("calico %s attaches its BPF programs with tc only (TCX is v3.31 and later)", version)
	}
	return nil
}

// BPFConntrackUDPTimeout is how long Felix's BPF conntrack keeps a UDP flow in eBPF mode
// (felix/config/config_params.go, BPFConntrackTimeouts: UDPTimeout=60s, v3.30 to v3.33),
// where nf_conntrack_udp_timeout does not apply.
const BPFConntrackUDPTimeout = 60 * time.Second

// ServicesEndpoint is the ConfigMap (in calico-node's namespace) that Calico's manifests
// read KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT from (envFrom, optional): in
// eBPF mode calico-node must reach the API server without kube-proxy's service rules.
const ServicesEndpoint = "kubernetes-services-endpoint"

// Family is the cluster's IP family: what pods, services and the Calico pools carry.
type Family string

const (
	// IPv4 only.
	IPv4 Family = "ipv4"
	// Dual is IPv4 and IPv6 (dual-stack pods and services).
	Dual Family = "dual"
)

// Families lists the IP versions a family has, in probing order.
func (f Family) Families() []string {
	if f == Dual {
		return []string{"ipv4", "ipv6"}
	}
	return []string{"ipv4"}
}

// ManifestOptions say how a published calico-vxlan.yaml becomes what a kind cluster needs.
type ManifestOptions struct {
	// Version, when set, is the release the manifest must be of (its images are
	// docker.io/calico/C:Version); empty takes the manifest's own tag.
	Version string
	// Images renames those images (component -> image: offline builds); nil keeps them.
	Images map[string]string
	// PodSubnet is kind's IPv4 podSubnet, the IPv4 pool; PodSubnetV6 the IPv6 one (dual).
	PodSubnet, PodSubnetV6 string
	Dataplane              Dataplane
	// BPFAttach is how the eBPF dataplane attaches its programs (empty: Felix's default).
	BPFAttach BPFAttach
	Family    Family
}

// Adapt turns Calico's calico-vxlan.yaml into what a kind cluster needs: images renamed,
// the IPv4 pool set to kind's podSubnet with VXLAN Always, IPIP Never checked, XDP off;
// for dual-stack an IPv6 pool over VXLAN too, with IPv6 addresses assigned by the CNI; for
// the nftables dataplane Felix's nftables mode. It fails if the manifest is not shaped as
// expected, rather than silently producing something else.
func Adapt(manifest string, o ManifestOptions) (string, error) {
	out := manifest
	l, err := ManifestLayout(manifest)
	if err != nil {
		return "", err
	}
	if o.Version != "" && o.Version != l.Version {
		return "", fmt.Errorf("calico manifest: it is of Calico %s, not %s", l.Version, o.Version)
	}
	if o.Images != nil {
		if have := slices.Sorted(maps.Keys(o.Images)); !slices.Equal(have, l.Components) {
			return "", fmt.Errorf("calico manifest: it names the images %s (%s), the build has %s", strings.Join(l.Components, ", "), l.Registry, strings.Join(have, ", "))
		}
	}
	for comp, img := range o.Images {
		out = strings.ReplaceAll(out, l.Image(comp), img)
	}
	env := []string{"CALICO_IPV4POOL_CIDR", o.PodSubnet, "FELIX_XDPENABLED", "false"}
	switch o.Dataplane {
	case Iptables, "":
	case Nftables:
		env = append(env, "FELIX_NFTABLESMODE", "Enabled")
	case BPF:
		// As calico-bpf.yaml enables it; calico-node must read the API server's address
		// from ServicesEndpoint, which every container of the published manifests does.
		if strings.Count(out, "name: "+ServicesEndpoint) < 2 {
			return "", fmt.Errorf("calico manifest: eBPF mode needs calico-node to read the ConfigMap %s (envFrom), and this manifest does not", ServicesEndpoint)
		}
		env = append(env, "FELIX_BPFENABLED", "true")
		if o.BPFAttach != "" {
			env = append(env, "FELIX_BPFATTACHTYPE", strings.ToUpper(string(o.BPFAttach)))
		}
	default:
		return "", fmt.Errorf("calico manifest: unknown dataplane %q (want one of %v)", o.Dataplane, Dataplanes)
	}
	if o.Family == Dual {
		if o.PodSubnetV6 == "" {
			return "", fmt.Errorf("calico manifest: dual-stack needs an IPv6 pod subnet")
		}
		// NAT outgoing, as the IPv4 pool has by default: the external host on kind's network
		// has no route back to the pods' IPv6 addresses.
		env = append(env, "CALICO_IPV6POOL_CIDR", o.PodSubnetV6, "IP6", "autodetect", "CALICO_IPV6POOL_NAT_OUTGOING", "true")
		if out, err = replaceOnce(out, "            - name: FELIX_IPV6SUPPORT\n              value: \"false\"\n",
			"            - name: FELIX_IPV6SUPPORT\n              value: \"true\"\n"); err != nil {
			return "", err
		}
		if out, err = replaceOnce(out, "          \"ipam\": {\n              \"type\": \"calico-ipam\"\n          },",
			"          \"ipam\": {\n              \"type\": \"calico-ipam\",\n              \"assign_ipv4\": \"true\",\n              \"assign_ipv6\": \"true\"\n          },"); err != nil {
			return "", err
		}
	} else if o.Family != IPv4 && o.Family != "" {
		return "", fmt.Errorf("calico manifest: unknown IP family %q (want ipv4 or dual)", o.Family)
	}
	const poolComment = "            # - name: CALICO_IPV4POOL_CIDR\n            #   value: \"192.168.0.0/16\"\n"
	var set strings.Builder
	for i := 0; i < len(env); i += 2 {
		fmt.Fprintf(&set, "            - name: %s\n              value: %q\n", env[i], env[i+1])
	}
	if out, err = replaceOnce(out, poolComment, set.String()); err != nil {
		return "", err
	}
	// The published manifest uses VXLAN CrossSubnet; all our nodes share one subnet, where
	// CrossSubnet would route natively, so force VXLAN encapsulation as the spec asks.
	pools := []string{"IPV4"}
	if o.Family == Dual {
		pools = append(pools, "IPV6")
	}
	for _, pool := range pools {
		vxlan := regexp.MustCompile(`(            - name: CALICO_` + pool + `POOL_VXLAN\n              value: )"[A-Za-z]+"\n`)
		if !vxlan.MatchString(out) {
			return "", fmt.Errorf("calico manifest: no CALICO_%sPOOL_VXLAN setting found", pool)
		}
		out = vxlan.ReplaceAllString(out, `${1}"Always"`+"\n")
	}
	for _, want := range []string{
		"            - name: CALICO_IPV4POOL_IPIP\n              value: \"Never\"\n",
		"  calico_backend: \"vxlan\"\n",
		"            - name: FELIX_IPV6SUPPORT\n              value: \"" + strconv.FormatBool(o.Family == Dual) + "\"\n",
	} {
		if !strings.Contains(out, want) {
			return "", fmt.Errorf("calico manifest: expected %q", strings.TrimSpace(want))
		}
	}
	return out, nil
}

// replaceOnce replaces the one occurrence of from, or says that the manifest lacks it.
func replaceOnce(s, from, to string) (string, error) {
	if strings.Count(s, from) != 1 {
		return "", fmt.Errorf("calico manifest: expected exactly one %q", strings.TrimSpace(from))
	}
	return strings.Replace(s, from, to, 1), nil
}

// Layout is what a published Calico manifest names: the registry and tag of its images and
// which components they are.
type Layout struct {
	Registry   string   // docker.io (up to v3.30) or quay.io (from v3.31)
	Version    string   // the images' tag: the release
	Components []string // sorted: cni, kube-controllers, node; on the v3.33 line calico, node
}

// Image is a component's image as the manifest names it.
func (l Layout) Image(comp string) string {
	return l.Registry + "/calico/" + comp + ":" + l.Version
}

// layouts are the component sets Calico's manifests have had.
var layouts = [][]string{
	{"cni", "kube-controllers", "node"}, // every release up to v3.32
	{"calico", "node"},                  // the v3.33 line: one calico/calico image for CNI install, kube-controllers and IPAM upgrade
}

var imageLine = regexp.MustCompile(`(?m)^\s*(?:-\s+)?image:\s*(\S+)\s*$`)

var calicoImage = regexp.MustCompile(`^(docker\.io|quay\.io)/calico/([a-z0-9-]+):([A-Za-z0-9._-]+)$`)

// ManifestLayout reads the images of a published Calico manifest: every image must be one
// of Calico's, in one registry, at one tag, and the components one of the layouts Calico
// has published. Anything else is refused, naming what was found.
func ManifestLayout(manifest string) (Layout, error) {
	var l Layout
	comps := map[string]bool{}
	for _, m := range imageLine.FindAllStringSubmatch(manifest, -1) {
		ref := strings.Trim(m[1], `"'`)
		p := calicoImage.FindStringSubmatch(ref)
		if p == nil {
			return l, fmt.Errorf("calico manifest: image %q is not a Calico image (docker.io/calico/C:TAG or quay.io/calico/C:TAG)", ref)
		}
		if l.Registry == "" {
			l.Registry, l.Version = p[1], p[3]
		}
		if p[1] != l.Registry || p[3] != l.Version {
			return l, fmt.Errorf("calico manifest: images of more than one release: %s and %s", l.Image(p[2]), ref)
		}
		comps[p[2]] = true
	}
	l.Components = slices.Sorted(maps.Keys(comps))
	for _, known := range layouts {
		if slices.Equal(l.Components, known) {
			return l, nil
		}
	}
	return l, fmt.Errorf("calico manifest: its Calico images are %v; a release manifest has calico/node with calico/cni and calico/kube-controllers (up to v3.32), or with calico/calico (the v3.33 line)", l.Components)
}

// ManifestVersion is the release a published Calico manifest is of: its images' tag.
func ManifestVersion(manifest string) (string, error) {
	l, err := ManifestLayout(manifest)
	return l.Version, err
}

// CheckDataplaneVersion says whether a Calico version can run a dataplane: Felix has an
// nftables mode from v3.29 on. version is a release ("v3.29.7"), an offline build of one
// ("v3.28.5-b") or a release branch ("release-v3.33").
func CheckDataplaneVersion(dp Dataplane, version string) error {
	if dp == Iptables {
		return nil
	}
	minor, err := versions.CalicoMinor(version)
	if err != nil {
		return err
	}
	switch {
	case dp == Nftables && minor < 29:
		return fmt.Errorf("calico %s has no nftables dataplane (Felix's nftables mode is v3.29 and later)", version)
	case dp == BPF && minor < 30:
		return fmt.Errorf("calico %s is built here without libbpf and BPF programs (the builds from v3.30.7 on have them)", version)
	case dp == BPF && version == versions.CalicoBranch:
		return fmt.Errorf("calico %s (the branch snapshot built here) has no BPF programs: its BPF build recipe is not reproduced (the releases v3.30.7 to v3.32.1 have them)", version)
	}
	return nil
}
