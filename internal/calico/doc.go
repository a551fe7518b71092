// Package calico owns everything Calico: it adapts a release's published manifest (every
// release layout, docker.io or quay.io, the v3.33 single image; kind, dataplane, IP family)
// and refuses anything else, installs it and waits until calico-node runs on every node,
// calico-kube-controllers is available and every node is Ready; it judges Calico's health
// (restarts, readiness, error-level log lines against the allowlist, every pod's log
// followed through a rollout) and reads a node's dataplane evidence (the tools' versions and
// exit statuses, then the rule counts).
package calico
