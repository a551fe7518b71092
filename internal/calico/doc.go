// Package calico installs Calico from a manifest (the offline build's, or upstream's for a
// chosen version) and waits until calico-node runs on every node, calico-kube-controllers
// is available and every node is Ready.
package calico
