package scenario

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	v1alpha1 "sigs.k8s.io/network-policy-api/apis/v1alpha1"

	"github.com/netpol-e2e/harness/internal/knp"
	"github.com/netpol-e2e/harness/internal/matrix"
)

// knpMatrix is kube-network-policies' matrix of a state (internal/knp), both families, for
// the states whose admin policies are v1alpha1 (the only API it evaluates): the fourth
// engine on the NetworkPolicy steps, the peer of the admin ones. Each pod gets an address
// per family; the DNS pods one too; the external host is at ext.
func knpMatrix(s *Scenario, st *State, ext Externals) (*matrix.Matrix, error) {
	objs := knp.Objects{}
	ips := map[string][2]string{}
	for i, d := range st.Deployments {
		ip := [2]string{fmt.Sprintf("10.244.1.%d", 10+i), fmt.Sprintf("fd00:10:244:1::%x", 10+i)}
		ips[d.Namespace+"/"+d.Name] = ip
		var ports []corev1.ContainerPort
		for _, c := range d.Spec.Template.Spec.Containers {
			ports = append(ports, c.Ports...)
		}
		objs.Pods = append(objs.Pods, knp.Pod{Namespace: d.Namespace, Name: d.Name, Labels: d.Spec.Template.Labels, IPs: ip[:], Ports: ports})
	}
	dnsIP := [2]string{"10.244.9.9", "fd00:10:244:9::9"}
	dnsNS := &corev1.Namespace{}
	dnsNS.Name = s.DNS[0].Namespace
	var dnsPorts []corev1.ContainerPort
	for _, d := range s.DNS {
		dnsPorts = append(dnsPorts, corev1.ContainerPort{Name: "dns-" + string(d.Protocol), ContainerPort: d.Port, Protocol: d.Protocol})
	}
	objs.Pods = append(objs.Pods, knp.Pod{Namespace: dnsNS.Name, Name: "dns", Labels: s.DNS[0].PodLabels, IPs: dnsIP[:], Ports: dnsPorts})
	for _, n := range append([]*corev1.Namespace{dnsNS}, st.Namespaces...) {
		ns := n.DeepCopy()
		ns.Labels = NamespaceLabels(n)
		objs.Namespaces = append(objs.Namespaces, ns)
	}
	objs.Policies = st.Policies
	for _, o := range st.Admin {
		switch p := o.AdminObject.(type) {
		case *v1alpha1.AdminNetworkPolicy:
			objs.ANPs = append(objs.ANPs, p)
		case *v1alpha1.BaselineAdminNetworkPolicy:
			objs.BANPs = append(objs.BANPs, p)
		default:
			return nil, fmt.Errorf("%s: kube-network-policies evaluates v1alpha1 admin policies only", o.Ref())
		}
	}
	e, err := knp.New(objs)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	family := func(f int, extIP string) (*matrix.Matrix, error) {
		return st.decideEach(s, func(src Source, t Target) bool {
			var to string
			port, proto := int(t.Port), corev1.ProtocolTCP
			switch t.Kind {
			case ServiceTarget:
				to, port, proto = ips[t.Backend.Namespace+"/"+t.Backend.Name][f], int(t.PodPort.ContainerPort), t.PodPort.Protocol
			case DNSLookupTarget:
				to, proto = dnsIP[f], t.DNS.Protocol
			case ExternalHostTarget:
				to = extIP
			}
			return e.Allowed(ips[src.ID][f], to, proto, port)
		})
	}
	v4, err := family(0, ext.V4)
	if err != nil {
		return nil, err
	}
	v6, err := family(1, ext.V6)
	if err != nil {
		return nil, err
	}
	return mergeFamilies(v4, v6), nil
}
