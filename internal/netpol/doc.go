// Package netpol evaluates Kubernetes NetworkPolicy v1 semantics without a cluster: given
// the endpoints (pods with their namespace labels, or bare IPs outside the cluster) and the
// policies, it decides whether one connection is allowed. It is the computed oracle that
// the hand-written fixtures are checked against.
package netpol
