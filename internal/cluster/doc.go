// Package cluster owns the kind cluster's lifecycle through the kind Go library (not the
// kind CLI): create (or reuse) a cluster of one control plane and N workers with the
// default CNI disabled, load images into every node, export logs, delete.
package cluster
