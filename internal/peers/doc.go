// Package peers runs the peer suites on our cluster: the upstream Kubernetes Netpol e2e
// specs and the network-policy-api conformance, each the upstream test binary built by
// `make images PEERS=1`, and turns their own reports into typed results
// (report.PeerSuite). It judges nothing itself: a spec passes or fails as its suite says.
package peers
