// Package imagebuild builds every container image the harness needs on this machine, from
// Go modules (through the Go module proxy) and Debian packages, contacting no registry:
// the kind node image with the control plane preloaded, Calico's images and manifest, and
// the demo app's image. Each stage's output is cached outside the work tree under a key
// made of the pinned versions and the recipe's own files, so a second run rebuilds nothing.
package imagebuild
