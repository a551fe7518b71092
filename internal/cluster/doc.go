// Package cluster owns the kind cluster's lifecycle through the kind Go library (not the
// kind CLI): create (or reuse) a cluster of one control plane and N workers with the
// default CNI disabled and the containerd patches asked for, export logs, delete; and what
// its nodes hold: images loaded by kind, pulled through the CRI, removed with all their
// content, files written (the registry mirror's hosts.toml).
package cluster
