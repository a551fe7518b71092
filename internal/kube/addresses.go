package kube

import (
	"net"

	corev1 "k8s.io/api/core/v1"
)

// PodIPs are a pod's addresses, one per family on a dual-stack cluster.
func PodIPs(p *corev1.Pod) []string {
	var out []string
	for _, ip := range p.Status.PodIPs {
		out = append(out, ip.IP)
	}
	return out
}

// AddressOf is the first address of one family in a list ("" when there is none).
func AddressOf(ips []string, v6 bool) string {
	for _, s := range ips {
		if ip := net.ParseIP(s); ip != nil && (ip.To4() == nil) == v6 {
			return s
		}
	}
	return ""
}
