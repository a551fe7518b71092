// Package knp is the admin layer's peer oracle: kube-network-policies v0.8.0 (a Kubernetes
// SIG Network project, kept by others) decides a connection the way its dataplane does,
// NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1) together.
// It shares nothing with internal/netpol but the objects it is given.
package knp
