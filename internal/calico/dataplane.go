package calico

import (
	"fmt"
	"strconv"
	"strings"
)

// DataplaneCommand is run in a calico-node pod (host network, so it sees its node's
// rules): it counts Calico's and kube-proxy's chains in nftables (Felix's nftables mode
// keeps its own tables "ip calico" and "ip6 calico", kube-proxy's nftables mode
// "ip kube-proxy" and "ip6 kube-proxy") and their rules in iptables and ip6tables, both
// backends (legacy and nft), one "name count" line each.
var DataplaneCommand = []string{"sh", "-c", strings.Join([]string{
	`ipt() { (iptables-legacy-save; iptables-nft-save; ip6tables-legacy-save; ip6tables-nft-save) 2>/dev/null; }`,
	`nftc() { (nft list table ip "$1"; nft list table ip6 "$1") 2>/dev/null | grep -c '^\s*chain '; }`,
	`echo nft-calico-chains $(nftc calico)`,
	`echo iptables-calico-rules $(ipt | grep -c -- '-A cali-')`,
	`echo nft-kube-proxy-chains $(nftc kube-proxy)`,
	`echo iptables-kube-proxy-rules $(ipt | grep -c -- '-A KUBE-SERVICES')`,
}, "; ")}

// NodeDataplane is what one node's rules show.
type NodeDataplane struct {
	Node string
	// NftCalicoChains counts the chains of Felix's nftables table; IptablesCalicoRules
	// the cali- rules in iptables. The same for kube-proxy.
	NftCalicoChains, IptablesCalicoRules       int
	NftKubeProxyChains, IptablesKubeProxyRules int
}

// ParseDataplane reads DataplaneCommand's output.
func ParseDataplane(node, out string) (NodeDataplane, error) {
	d := NodeDataplane{Node: node}
	fields := map[string]*int{
		"nft-calico-chains": &d.NftCalicoChains, "iptables-calico-rules": &d.IptablesCalicoRules,
		"nft-kube-proxy-chains": &d.NftKubeProxyChains, "iptables-kube-proxy-rules": &d.IptablesKubeProxyRules,
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || fields[f[0]] == nil {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return d, fmt.Errorf("node %s: dataplane count %q: %w", node, line, err)
		}
		*fields[f[0]] = n
		seen++
	}
	if seen != len(fields) {
		return d, fmt.Errorf("node %s: dataplane command printed %d of %d counts: %q", node, seen, len(fields), out)
	}
	return d, nil
}

// Problems says how the node's rules differ from the dataplane asked for: Calico's and
// kube-proxy's rules must be in that one (iptables or nftables) and absent from the other.
func (d NodeDataplane) Problems(want Dataplane) []string {
	var out []string
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
	return out
}

func (d NodeDataplane) String() string {
	return fmt.Sprintf("%s: Calico %d nftables chains / %d iptables rules, kube-proxy %d nftables chains / %d iptables rules",
		d.Node, d.NftCalicoChains, d.IptablesCalicoRules, d.NftKubeProxyChains, d.IptablesKubeProxyRules)
}
