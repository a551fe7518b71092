package knp

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"time"
	_ "unsafe" // go:linkname, below

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
	v1alpha1 "sigs.k8s.io/network-policy-api/apis/v1alpha1"
	npafake "sigs.k8s.io/network-policy-api/pkg/client/clientset/versioned/fake"
	npainformers "sigs.k8s.io/network-policy-api/pkg/client/informers/externalversions"

	"github.com/netpol-e2e/harness/internal/netpol"
)

// kube-network-policies evaluates the first packet of a connection in its NFQUEUE
// controller (pkg/networkpolicy/controller.go, evaluatePacket: admin policies, then
// NetworkPolicies, then the baseline, egress of the source then ingress of the
// destination). That method is its only evaluation entry point and it is unexported, so it
// is reached by name: packet mirrors its unexported packet type field for field, and both
// are pinned by the module version in go.mod (v0.8.0). TestEngine fails if either drifts.

// packet is kube-network-policies v0.8.0's packet (pkg/networkpolicy/packet.go).
type packet struct {
	id      uint32
	family  corev1.IPFamily
	srcIP   net.IP
	dstIP   net.IP
	proto   corev1.Protocol
	srcPort int
	dstPort int
	payload []byte
}

//go:linkname evaluatePacket sigs.k8s.io/kube-network-policies/pkg/networkpolicy.(*Controller).evaluatePacket
func evaluatePacket(c *networkpolicy.Controller, ctx context.Context, p packet) bool

// nodeName is the one node of the engine's cluster; every pod runs on it.
const nodeName = "peer"

// Pod is a pod of the engine's cluster: its addresses and container ports are what the
// engine matches.
type Pod struct {
	Namespace, Name string
	Labels          map[string]string
	IPs             []string
	Ports           []corev1.ContainerPort
}

// Objects are a cluster's state as the engine reads it.
type Objects struct {
	Namespaces []*corev1.Namespace
	Pods       []Pod
	Policies   []*networkingv1.NetworkPolicy
	ANPs       []*v1alpha1.AdminNetworkPolicy
	BANPs      []*v1alpha1.BaselineAdminNetworkPolicy
}

// Engine is a kube-network-policies controller over a fake cluster holding Objects.
type Engine struct {
	c      *networkpolicy.Controller
	cancel context.CancelFunc
	n      uint32 // packets evaluated, each one's id
}

// New starts the engine on the objects (informers synced before it returns).
func New(o Objects) (*Engine, error) {
	var kobjs []runtime.Object
	for _, n := range o.Namespaces {
		kobjs = append(kobjs, n.DeepCopy())
	}
	for _, p := range o.Pods {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels},
			Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "app", Ports: p.Ports}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		}
		for _, ip := range p.IPs {
			pod.Status.PodIPs = append(pod.Status.PodIPs, corev1.PodIP{IP: ip})
		}
		if len(p.IPs) > 0 {
			pod.Status.PodIP = p.IPs[0]
		}
		kobjs = append(kobjs, pod)
	}
	for _, p := range o.Policies {
		// As the API server serves it, which is what the engine is written against: its
		// fields are omitempty, so "ingress: []" comes back absent, which the engine reads
		// as no rule (the raw empty list it would read as "allow all").
		held, err := netpol.AsServed(p)
		if err != nil {
			return nil, err
		}
		kobjs = append(kobjs, held)
	}
	var aobjs []runtime.Object
	for _, p := range o.ANPs {
		aobjs = append(aobjs, p.DeepCopy())
	}
	for _, p := range o.BANPs {
		aobjs = append(aobjs, p.DeepCopy())
	}
	// Its NRI plugin stub (created so that an address no pod has is looked up there, found
	// nowhere, rather than through a nil plugin) says so at info level on every engine.
	logrus.SetLevel(logrus.WarnLevel)
	cs := fake.NewSimpleClientset(kobjs...)
	acs := npafake.NewSimpleClientset(aobjs...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	ainf := npainformers.NewSharedInformerFactory(acs, 0)
	c, err := networkpolicy.NewController(cs, inf.Networking().V1().NetworkPolicies(), inf.Core().V1().Namespaces(), inf.Core().V1().Pods(), inf.Core().V1().Nodes(), acs,
		ainf.Policy().V1alpha1().AdminNetworkPolicies(), ainf.Policy().V1alpha1().BaselineAdminNetworkPolicies(),
		networkpolicy.Config{AdminNetworkPolicy: true, BaselineAdminNetworkPolicy: true, NodeName: nodeName})
	if err != nil {
		return nil, fmt.Errorf("kube-network-policies: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	inf.Start(ctx.Done())
	ainf.Start(ctx.Done())
	for _, synced := range []map[reflect.Type]bool{inf.WaitForCacheSync(ctx.Done()), ainf.WaitForCacheSync(ctx.Done())} {
		for typ, ok := range synced {
			if !ok {
				cancel()
				return nil, fmt.Errorf("kube-network-policies: informer of %v never synced", typ)
			}
		}
	}
	return &Engine{c: c, cancel: cancel}, nil
}

// Allowed says whether a connection from src to dst (addresses; a pod's or any other) on a
// destination port is let through.
func (e *Engine) Allowed(src, dst string, proto corev1.Protocol, port int) bool {
	// Every field set, as the engine's parser sets them (a connection's first packet, no
	// payload looked at).
	e.n++
	p := packet{id: e.n, srcIP: net.ParseIP(src), dstIP: net.ParseIP(dst), proto: proto, srcPort: 40000, dstPort: port, family: corev1.IPv4Protocol, payload: []byte{}}
	if p.dstIP.To4() == nil {
		p.family = corev1.IPv6Protocol
	}
	return evaluatePacket(e.c, context.Background(), p)
}

// Close stops the engine's informers.
func (e *Engine) Close() { e.cancel() }
