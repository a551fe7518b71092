//go:build tools

// Package tools exists so that `go mod tidy` keeps agnhost's requirements.
package tools

import _ "k8s.io/kubernetes/test/images/agnhost"
