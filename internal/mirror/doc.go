// Package mirror serves, from this machine, what a cluster would otherwise fetch from the
// internet: a local image registry (distribution's, in a container on kind's network) that
// the nodes' containerd uses as the mirror of the registries the manifests name, and a
// loopback file server for release manifests at the paths their upstream hosts use.
//
// Images are pushed under the names the upstream manifests give them, so a manifest runs
// unchanged: `kind load` is not needed, the nodes pull what they lack, as real clusters do.
package mirror
