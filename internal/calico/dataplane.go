package calico

import (
	"fmt"
	"strconv"
	"strings"
)

// dataplaneTools are the programs DataplaneCommand reads the rules with.
var dataplaneTools = []string{"nft", "iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save"}

// DataplaneCommand is run in a calico-node pod (host network, so it sees its node's
// rules): it counts Calico's and kube-proxy's chains in nftables (Felix's nftables mode
// keeps its own tables "ip calico" and "ip6 calico", kube-proxy's nftables mode
// "ip kube-proxy" and "ip6 kube-proxy") and their rules in iptables and ip6tables, both
// backends (legacy and nft), one "name count" line each. Before the counts it prints each
// tool's version ("version TOOL TEXT", or "missing TOOL") and each command's exit status
// ("status COMMAND CODE"): a count of 0 means "no rules" only if every tool ran and
// succeeded.
var DataplaneCommand = []string{"sh", "-c", strings.Join([]string{
	`d=$(mktemp -d) || exit 1`,
	`for t in ` + strings.Join(dataplaneTools, " ") + `; do if command -v "$t" >/dev/null 2>&1; then echo "version $t $("$t" --version 2>&1 | head -n 1)"; else echo "missing $t"; fi; done`,
	`for s in iptables-legacy-save iptables-nft-save ip6tables-legacy-save ip6tables-nft-save; do "$s" >"$d/$s.save" 2>"$d/$s.err"; echo "status $s $?"; done`,
	`nft list tables >"$d/tables" 2>&1; echo "status nft-list-tables $?"`,
	`nftc() { n=0; for f in ip ip6; do if grep -qx "table $f $1" "$d/tables"; then nft list table "$f" "$1" >"$d/t" 2>&1; echo "status nft-list-table-$f-$1 $?"; n=$((n + $(grep -c '^[[:space:]]*chain ' "$d/t"))); fi; done; echo "$2 $n"; }`,
	`nftc calico nft-calico-chains`,
	`echo iptables-calico-rules $(cat "$d"/*.save | grep -c -- '-A cali-')`,
	`nftc kube-proxy nft-kube-proxy-chains`,
	`echo iptables-kube-proxy-rules $(cat "$d"/*.save | grep -c -- '-A KUBE-SERVICES')`,
	`rm -rf "$d"`,
}, "; ")}

// NodeDataplane is what one node's rules show.
type NodeDataplane struct {
	Node string
	// NftCalicoChains counts the chains of Felix's nftables table; IptablesCalicoRules
	// the cali- rules in iptables. The same for kube-proxy.
	NftCalicoChains, IptablesCalicoRules       int
	NftKubeProxyChains, IptablesKubeProxyRules int
	// Tools are the versions of the programs that read the rules, by name.
	Tools map[string]string
}

// ParseDataplane reads DataplaneCommand's output. A tool that is missing, or a command
// that failed, is an error: it cannot tell "no rules" from "could not look".
func ParseDataplane(node, out string) (NodeDataplane, error) {
	d := NodeDataplane{Node: node, Tools: map[string]string{}}
	fields := map[string]*int{
		"nft-calico-chains": &d.NftCalicoChains, "iptables-calico-rules": &d.IptablesCalicoRules,
		"nft-kube-proxy-chains": &d.NftKubeProxyChains, "iptables-kube-proxy-rules": &d.IptablesKubeProxyRules,
	}
	seen := 0
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
		return d, fmt.Errorf("node %s: cannot read the dataplane's rules (%s): a count of 0 would not mean \"no rules\"", node, strings.Join(failed, "; "))
	}
	for _, t := range dataplaneTools {
		if _, ok := d.Tools[t]; !ok {
			return d, fmt.Errorf("node %s: dataplane command printed no version of %s: %q", node, t, out)
		}
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
	return fmt.Sprintf("%s: Calico %d nftables chains / %d iptables rules, kube-proxy %d nftables chains / %d iptables rules (read with %s, %s)",
		d.Node, d.NftCalicoChains, d.IptablesCalicoRules, d.NftKubeProxyChains, d.IptablesKubeProxyRules, d.Tools["nft"], d.Tools["iptables-nft-save"])
}
