//go:build tools

// Package tools exists so that `go mod tidy` keeps the requirements of the binaries built here.
package tools
