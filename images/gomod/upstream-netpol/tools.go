//go:build tools

// Package tools exists so that `go mod tidy` keeps agnhost's requirements: the probe image
// of the upstream specs is built from this module.
package tools

import _ "k8s.io/kubernetes/test/images/agnhost"
