// Package kube is our thin layer over client-go: server-side apply of decoded objects,
// waiting for rollouts and deletions, finding an app's pod, and exec into a pod through
// remotecommand (no kubectl binary). Errors name the object they concern.
package kube
