package calico

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// dataplaneTools are the programs DataplaneCommand reads the rules and the BPF
// attachments with.
var dataplaneTools = []string{"nft", "iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save", "bpftool", "ip"}

// policyChains are the names of Felix's per-policy, per-profile and per-workload chains
// (cali-pi-/cali-po- a policy's ingress/egress, cali-pri-/cali-pro- a profile's, cali-tw-/
// cali-fw- to and from a workload): where iptables and nftables modes enforce policy. In
// eBPF mode Felix keeps a few cali- chains (marks, failsafes) but none of these.
const policyChains = `cali-(pi|po|pri|pro|tw|fw)-`

// DataplaneCommand is run in a calico-node pod (host network, so it sees its node's
// rules): it counts Calico's and kube-proxy's chains in nftables (Felix's nftables mode
// keeps its own tables "ip calico" and "ip6 calico", kube-proxy's nftables mode
// "ip kube-proxy" and "ip6 kube-proxy") and their rules in iptables and ip6tables, both
// backends (legacy and nft), one "name count" line each; Calico's policy chains apart.
// It lists the node's workload interfaces ("iface cali...") and, from the kernel (bpftool),
// every program attached to an interface ("bpf-net JSON"). Before that it prints each
// tool's version ("version TOOL TEXT", or "missing TOOL") and each command's exit status
// ("status COMMAND CODE"): a count of 0 means "no rules" only if every tool ran and
// succeeded.
var DataplaneCommand = []string{"sh", "-c", strings.Join([]string{
	`d=$(mktemp -d) || exit 1`,
	`for t in ` + strings.Join(dataplaneTools, " ") + `; do if command -v "$t" >/dev/null 2>&1; then f=--version; [ "$t" != ip ] || f=-V; echo "version $t $("$t" $f 2>&1 | head -n 1)"; else echo "missing $t"; fi; done`,
	`for s in iptables-legacy-save iptables-nft-save ip6tables-legacy-save ip6tables-nft-save; do "$s" >"$d/$s.save" 2>"$d/$s.err"; echo "status $s $?"; done`,
	`nft list tables >"$d/tables" 2>&1; echo "status nft-list-tables $?"`,
	`nftc() { n=0; p=0; for f in ip ip6; do if grep -qx "table $f $1" "$d/tables"; then nft list table "$f" "$1" >"$d/t" 2>&1; echo "status nft-list-table-$f-$1 $?"; n=$((n + $(grep -c '^[[:space:]]*chain ' "$d/t"))); p=$((p + $(grep -cE '^[[:space:]]*chain [^ ]*` + policyChains + `' "$d/t"))); fi; done; echo "$2 $n"; [ -z "$3" ] || echo "$3 $p"; }`,
	`nftc calico nft-calico-chains nft-calico-policy-chains`,
	`echo iptables-calico-rules $(cat "$d"/*.save | grep -c -- '-A cali-')`,
	`echo iptables-calico-policy-rules $(cat "$d"/*.save | grep -cE -- '-A ` + policyChains + `')`,
	`nftc kube-proxy nft-kube-proxy-chains`,
	`echo iptables-kube-proxy-rules $(cat "$d"/*.save | grep -c -- '-A KUBE-SERVICES')`,
	`ip -o link show >"$d/links"; echo "status ip-link $?"`,
	`for i in $(awk -F': ' '{print $2}' "$d/links" | cut -d@ -f1 | grep '^cali'); do echo "iface $i"; done`,
	`bpftool -j net show >"$d/net" 2>"$d/net.err"; echo "status bpftool-net $?"`,
	`echo "bpf-net $(tr -d '\n' <"$d/net")"`,
	`rm -rf "$d"`,
}, "; ")}

// NodeDataplane is what one node's rules and BPF attachments show.
type NodeDataplane struct {
	Node string
	// NftCalicoChains counts the chains of Felix's nftables table; IptablesCalicoRules
	// the cali- rules in iptables. The same for kube-proxy.
	NftCalicoChains, IptablesCalicoRules       int
	NftKubeProxyChains, IptablesKubeProxyRules int
	// NftPolicyChains and IptablesPolicyRules count Felix's policy chains (policyChains)
	// in nftables, and their rules in iptables.
	NftPolicyChains, IptablesPolicyRules int
	// Workloads are the node's workload interfaces (cali*).
	Workloads []string
	// CalicoBPF is, per interface, the hooks ("tcx/ingress", "clsact/egress", "xdp")
	// where a Calico program (named cali_*) is attached, as the kernel lists them.
	CalicoBPF map[string][]string
	// Tools are the versions of the programs that read the rules, by name.
	Tools map[string]string
}

// bpfNet is bpftool's `net show` in JSON: the programs attached to interfaces.
type bpfNet []struct {
	XDP []bpfAttachment `json:"xdp"`
	TC  []bpfAttachment `json:"tc"`
}

type bpfAttachment struct {
	Dev  string `json:"devname"`
	Kind string `json:"kind"` // tc: "tcx/ingress", "clsact/egress"...; xdp: "" (mode in "mode")
	Name string `json:"name"`
}

// ParseDataplane reads DataplaneCommand's output. A tool that is missing, or a command
// that failed, is an error: it cannot tell "no rules" from "could not look".
func ParseDataplane(node, out string) (NodeDataplane, error) {
	d := NodeDataplane{Node: node, Tools: map[string]string{}, CalicoBPF: map[string][]string{}}
	fields := map[string]*int{
		"nft-calico-chains": &d.NftCalicoChains, "iptables-calico-rules": &d.IptablesCalicoRules,
		"nft-kube-proxy-chains": &d.NftKubeProxyChains, "iptables-kube-proxy-rules": &d.IptablesKubeProxyRules,
		"nft-calico-policy-chains": &d.NftPolicyChains, "iptables-calico-policy-rules": &d.IptablesPolicyRules,
	}
	seen, sawBPF := 0, false
	var failed []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "version":
			d.Tools[f[1]] = strings.Join(f[2:], " ")
		case len(f) == 2 && f[0] == "missing":
			failed = append(failed, f[1]+" is missing")
		case len(f) == 3 && f[0] == "status":
			if f[2] != "0" {
				failed = append(failed, fmt.Sprintf("%s exited %s", f[1], f[2]))
			}
		case len(f) == 2 && f[0] == "iface":
			d.Workloads = append(d.Workloads, f[1])
		case len(f) >= 1 && f[0] == "bpf-net":
			var net bpfNet
			if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "bpf-net"))), &net); err != nil {
				return d, fmt.Errorf("node %s: bpftool net show: %w: %q", node, err, line)
			}
			for _, n := range net {
				for _, a := range n.TC {
					d.addBPF(a.Dev, a.Kind, a.Name)
				}
				for _, a := range n.XDP {
					d.addBPF(a.Dev, "xdp", a.Name)
				}
			}
			sawBPF = true
		case len(f) == 2 && fields[f[0]] != nil:
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return d, fmt.Errorf("node %s: dataplane count %q: %w", node, line, err)
			}
			*fields[f[0]] = n
			seen++
		}
	}
	if len(failed) > 0 {
		return d, fmt.Errorf("node %s: cannot read the dataplane (%s): a count of 0 would not mean \"no rules\", nor an empty list \"no programs\"", node, strings.Join(failed, "; "))
	}
	for _, t := range dataplaneTools {
		if _, ok := d.Tools[t]; !ok {
			return d, fmt.Errorf("node %s: dataplane command printed no version of %s: %q", node, t, out)
		}
	}
	if seen != len(fields) {
		return d, fmt.Errorf("node %s: dataplane command printed %d of %d counts: %q", node, seen, len(fields), out)
	}
	if !sawBPF {
		return d, fmt.Errorf("node %s: dataplane command printed no bpftool listing: %q", node, out)
	}
	return d, nil
}

// addBPF records a Calico program's attachment (Calico names its programs cali_*).
func (d *NodeDataplane) addBPF(dev, hook, prog string) {
	if strings.HasPrefix(prog, "cali_") {
		d.CalicoBPF[dev] = append(d.CalicoBPF[dev], hook)
	}
}

// Evidence says what the dataplane check proves on every node for a dataplane (on eBPF,
// attached as given).
func (dp Dataplane) Evidence(attach BPFAttach) string {
	if dp == BPF {
		return "Calico's BPF programs on both directions of every workload interface, attached by " + attach.Kind() + ", no Calico policy chain in iptables or nftables, no kube-proxy rules"
	}
	return "Calico's and kube-proxy's rules in " + string(dp) + " and none in the other, no Calico BPF program attached"
}

// Problems says how the node differs from the dataplane asked for. iptables and
// nftables: Calico's and kube-proxy's rules must be in that one and absent from the
// other, and no Calico program attached to any interface. eBPF: a Calico program on both
// directions of every workload interface, attached the way asked for (and no other way),
// no Calico policy chain in iptables or nftables, and no kube-proxy rules anywhere
// (Calico replaces kube-proxy).
func (d NodeDataplane) Problems(want Dataplane, attach BPFAttach) []string {
	var out []string
	if want == BPF {
		for _, w := range d.Workloads {
			for _, dir := range []string{"ingress", "egress"} {
				if !slices.Contains(d.CalicoBPF[w], attach.Kind()+"/"+dir) {
					out = append(out, fmt.Sprintf("node %s: workload interface %s has no Calico BPF program on %s attached by %s (attached: %v)", d.Node, w, dir, attach.Kind(), d.CalicoBPF[w]))
				}
			}
			if other := slices.DeleteFunc(slices.Clone(d.CalicoBPF[w]), func(h string) bool { return strings.HasPrefix(h, attach.Kind()+"/") }); len(other) > 0 {
				out = append(out, fmt.Sprintf("node %s: workload interface %s has Calico BPF programs attached otherwise than by %s: %v", d.Node, w, attach.Kind(), other))
			}
		}
		if len(d.CalicoBPF) == 0 {
			out = append(out, fmt.Sprintf("node %s: no Calico BPF program attached to any interface", d.Node))
		}
		if d.NftPolicyChains > 0 || d.IptablesPolicyRules > 0 {
			out = append(out, fmt.Sprintf("node %s: Calico policy in iptables or nftables on eBPF: %d iptables rules, %d nftables chains in %s chains (want none)", d.Node, d.IptablesPolicyRules, d.NftPolicyChains, policyChains))
		}
		if d.NftKubeProxyChains > 0 || d.IptablesKubeProxyRules > 0 {
			out = append(out, fmt.Sprintf("node %s: kube-proxy rules on eBPF: %d nftables chains, %d iptables rules (want none: Calico replaces kube-proxy)", d.Node, d.NftKubeProxyChains, d.IptablesKubeProxyRules))
		}
		return out
	}
	check := func(who string, nft, ipt int) {
		switch {
		case want == Nftables && (nft == 0 || ipt > 0):
			out = append(out, fmt.Sprintf("node %s: %s is not on nftables: %d nftables chains, %d iptables rules (want some, and none)", d.Node, who, nft, ipt))
		case want != Nftables && (ipt == 0 || nft > 0):
			out = append(out, fmt.Sprintf("node %s: %s is not on iptables: %d iptables rules, %d nftables chains (want some, and none)", d.Node, who, ipt, nft))
		}
	}
	check("Calico (Felix)", d.NftCalicoChains, d.IptablesCalicoRules)
	check("kube-proxy", d.NftKubeProxyChains, d.IptablesKubeProxyRules)
	if len(d.CalicoBPF) > 0 {
		out = append(out, fmt.Sprintf("node %s: Calico BPF programs attached on %s: %s (want none)", d.Node, want, d.bpfString()))
	}
	return out
}

func (d NodeDataplane) bpfString() string {
	var parts []string
	for _, dev := range slices.Sorted(maps.Keys(d.CalicoBPF)) {
		parts = append(parts, dev+" "+strings.Join(d.CalicoBPF[dev], ","))
	}
	return strings.Join(parts, "; ")
}

func (d NodeDataplane) String() string {
	s := fmt.Sprintf("%s: Calico %d nftables chains / %d iptables rules (policy: %d / %d), kube-proxy %d nftables chains / %d iptables rules; Calico BPF programs on %d interfaces (%d workload interfaces)",
		d.Node, d.NftCalicoChains, d.IptablesCalicoRules, d.NftPolicyChains, d.IptablesPolicyRules, d.NftKubeProxyChains, d.IptablesKubeProxyRules, len(d.CalicoBPF), len(d.Workloads))
	if len(d.CalicoBPF) > 0 {
		s += ": " + d.bpfString()
	}
	return s + fmt.Sprintf(" (read with %s, %s, %s)", d.Tools["nft"], d.Tools["iptables-nft-save"], d.Tools["bpftool"])
}
