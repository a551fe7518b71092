package scenario

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/netpol"
)

// Source is a row of a matrix: one app's pod, named "namespace/deployment".
type Source struct {
	ID         string
	Deployment *appsv1.Deployment
}

// TargetKind says how a target is probed.
type TargetKind string

const (
	// ServiceTarget is an HTTP GET of /status on a service port, by name (or pod IP).
	ServiceTarget TargetKind = "service"
	// DNSLookupTarget is a name lookup through the cluster DNS.
	DNSLookupTarget TargetKind = "dns"
	// ExternalHostTarget is an HTTP GET of /status on a host outside the cluster.
	ExternalHostTarget TargetKind = "external"
)

// Target is a column of a matrix.
type Target struct {
	ID   string
	Kind TargetKind
	// For ServiceTarget: the service, its port, the deployment behind it and the
	// container port the traffic lands on.
	Service     *corev1.Service
	ServicePort corev1.ServicePort
	Backend     *appsv1.Deployment
	PodPort     corev1.ContainerPort
	// For DNSLookupTarget: the DNS server pods and protocol.
	DNS *DNSTarget
	// Host is the DNS name probed (service FQDN, or the name a DNS target looks up).
	Host string
	Port int32
}

// Sources lists the rows, in the order the deployments were applied.
func (st *State) Sources() []Source {
	out := make([]Source, 0, len(st.Deployments))
	for _, d := range st.Deployments {
		out = append(out, Source{ID: d.Namespace + "/" + d.Name, Deployment: d})
	}
	return out
}

// Targets lists the columns: every service port in applied order, then DNS and external.
func (st *State) Targets(s *Scenario) ([]Target, error) {
	var out []Target
	seen := map[string]string{}
	for _, svc := range st.Services {
		for _, sp := range svc.Spec.Ports {
			d, cp, err := st.backing(svc, sp)
			if err != nil {
				return nil, err
			}
			id := svc.Name + ":" + strconv.Itoa(int(sp.Port))
			if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
				return nil, fmt.Errorf("service %s/%s port %d: only TCP service ports can be probed", svc.Namespace, svc.Name, sp.Port)
			}
			if prev, dup := seen[id]; dup {
				return nil, fmt.Errorf("target %s is ambiguous: services in %s and %s share name and port", id, prev, svc.Namespace)
			}
			seen[id] = svc.Namespace
			out = append(out, Target{
				ID: id, Kind: ServiceTarget, Service: svc, ServicePort: sp, Backend: d, PodPort: cp,
				// A fully qualified name (trailing dot): one query, no search-path expansion,
				// so the probe exercises the policy rather than the resolver's search list.
				Host: svc.Name + "." + svc.Namespace + ".svc.cluster.local.", Port: sp.Port,
			})
		}
	}
	for i := range s.DNS {
		d := &s.DNS[i]
		out = append(out, Target{ID: d.Target, Kind: DNSLookupTarget, DNS: d, Host: d.Lookup, Port: d.Port})
	}
	out = append(out, Target{ID: s.External.Target, Kind: ExternalHostTarget, Port: s.External.Port})
	return out, nil
}

// Expected computes a step's matrix from its state: the netpol evaluator decides every
// (source, target) cell; a source probing its own service is not probed. externalIP is
// the address of the outside host (s.External.IP when computing offline).
func (st *State) Expected(s *Scenario, externalIP string) (*matrix.Matrix, error) {
	var policies []networkingv1.NetworkPolicy
	for _, p := range st.Policies {
		policies = append(policies, *p)
	}
	ev, err := netpol.New(policies, st.AdminPolicies()...)
	if err != nil {
		return nil, err
	}
	return st.decideEach(s, func(src Source, t Target) bool {
		from := st.podEndpoint(src.Deployment)
		var conn netpol.Connection
		switch t.Kind {
		case ServiceTarget:
			conn = netpol.Connection{Src: from, Dst: st.podEndpoint(t.Backend), Port: t.PodPort.ContainerPort, Protocol: t.PodPort.Protocol}
		case DNSLookupTarget:
			d := t.DNS
			ns := &corev1.Namespace{}
			ns.Name = d.Namespace
			dns := netpol.Endpoint{
				Pod: true, Namespace: d.Namespace, Labels: d.PodLabels, NamespaceLabels: NamespaceLabels(ns),
				Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: d.Port, Protocol: d.Protocol}},
			}
			conn = netpol.Connection{Src: from, Dst: dns, Port: d.Port, Protocol: d.Protocol}
		case ExternalHostTarget:
			conn = netpol.Connection{Src: from, Dst: netpol.Endpoint{IP: externalIP}, Port: t.Port, Protocol: corev1.ProtocolTCP}
		}
		return ev.Evaluate(conn).Allowed
	})
}

// decideEach is the state's matrix with allowed or blocked in every cell as decide says (an
// engine: ours, or a peer's), a source's own service not probed.
func (st *State) decideEach(s *Scenario, decide func(src Source, t Target) bool) (*matrix.Matrix, error) {
	sources := st.Sources()
	targets, err := st.Targets(s)
	if err != nil {
		return nil, err
	}
	rows := make([]string, len(sources))
	for i, src := range sources {
		rows[i] = src.ID
	}
	cols := make([]string, len(targets))
	for i, t := range targets {
		cols[i] = t.ID
	}
	m := matrix.New(rows, cols, matrix.NotProbed)
	for r, src := range sources {
		for c, t := range targets {
			if t.Kind == ServiceTarget && t.Backend == src.Deployment {
				continue // self: not probed
			}
			m.Cells[r][c] = matrix.Blocked
			if decide(src, t) {
				m.Cells[r][c] = matrix.Allowed
			}
		}
	}
	return m, nil
}

func (st *State) podEndpoint(d *appsv1.Deployment) netpol.Endpoint {
	var ports []corev1.ContainerPort
	for _, c := range d.Spec.Template.Spec.Containers {
		ports = append(ports, c.Ports...)
	}
	return netpol.Endpoint{
		Pod: true, Namespace: d.Namespace, Labels: d.Spec.Template.Labels,
		NamespaceLabels: NamespaceLabels(st.namespace(d.Namespace)), Ports: ports,
	}
}

// NamesNeedDNS adjusts a computed matrix for probes by name: a source whose UDP DNS cell is
// blocked cannot resolve any service name (Go's resolver, like most, asks over UDP first),
// so each of its service cells is a dns-failure rather than what the policy alone decides.
func NamesNeedDNS(m *matrix.Matrix, targets []Target) {
	for r, row := range m.Rows {
		noDNS := false
		for _, t := range targets {
			if t.Kind == DNSLookupTarget && t.DNS.Protocol == corev1.ProtocolUDP {
				if v, _ := m.Get(row, t.ID); v == matrix.Blocked {
					noDNS = true
				}
			}
		}
		if !noDNS {
			continue
		}
		for c, col := range m.Cols {
			for _, t := range targets {
				if t.ID == col && t.Kind == ServiceTarget && m.Cells[r][c] != matrix.NotProbed {
					m.Cells[r][c] = matrix.DNSFailure
				}
			}
		}
	}
}

// Replaced lists the rows and columns whose pods a step's objects roll out: the sources
// whose Deployment the step applies and the service targets such a Deployment backs (both
// families' columns). Their cells change pods even where their verdict does not, so a
// probe may find a pod going away or not yet programmed while the step converges.
func (st *State) Replaced(s *Scenario, objs []Object) (rows, cols []string, err error) {
	applied := map[string]bool{}
	for _, o := range objs {
		if o.Deployment != nil {
			applied[o.Deployment.Namespace+"/"+o.Deployment.Name] = true
		}
	}
	for _, src := range st.Sources() {
		if applied[src.ID] {
			rows = append(rows, src.ID)
		}
	}
	targets, err := st.Targets(s)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range targets {
		if t.Backend != nil && applied[t.Backend.Namespace+"/"+t.Backend.Name] {
			cols = append(cols, t.ID, t.ID+IPv6Column)
		}
	}
	return rows, cols, nil
}
