package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/netpol"
)

// State is what the cluster holds after some steps: the objects of the scenario in the
// order they were first applied (a re-applied object replaces its earlier version in place).
type State struct {
	Namespaces  []*corev1.Namespace
	Deployments []*appsv1.Deployment
	Services    []*corev1.Service
	Policies    []*networkingv1.NetworkPolicy
	// Admin are the admin policies in force (cluster-scoped).
	Admin []Object
}

// NewState is an empty cluster.
func NewState() *State { return &State{} }

// Clone copies the lists (objects are shared: they are never mutated).
func (st *State) Clone() *State {
	return &State{
		Namespaces:  slices.Clone(st.Namespaces),
		Deployments: slices.Clone(st.Deployments),
		Services:    slices.Clone(st.Services),
		Policies:    slices.Clone(st.Policies),
		Admin:       slices.Clone(st.Admin),
	}
}

func upsert[T any](list []*T, obj *T, same func(a, b *T) bool) []*T {
	if i := slices.IndexFunc(list, func(x *T) bool { return same(x, obj) }); i >= 0 {
		list[i] = obj
		return list
	}
	return append(list, obj)
}

// Apply adds a step's objects (namespaces first, as kubectl's ordering would need) and
// deletes its namespaces with everything in them.
func (st *State) Apply(step *Step) error {
	for _, o := range step.Objects {
		if o.Namespace != nil {
			st.Namespaces = upsert(st.Namespaces, o.Namespace, func(a, b *corev1.Namespace) bool { return a.Name == b.Name })
		}
	}
	for _, o := range step.Objects {
		if o.Namespace != nil {
			continue
		}
		if o.Admin != nil {
			if err := st.applyAdmin(o); err != nil {
				return err
			}
			continue
		}
		ns := objectNamespace(o)
		if st.namespace(ns) == nil {
			return &FileError{o.File, o.Line, fmt.Sprintf("%s: namespace %q does not exist at step %s; create it in an earlier step or in the same files", o.Ref(), ns, step.Name)}
		}
		switch {
		case o.Deployment != nil:
			st.Deployments = upsert(st.Deployments, o.Deployment, sameMeta[appsv1.Deployment])
		case o.Service != nil:
			st.Services = upsert(st.Services, o.Service, sameMeta[corev1.Service])
		case o.Policy != nil:
			st.Policies = upsert(st.Policies, o.Policy, sameMeta[networkingv1.NetworkPolicy])
		}
	}
	for _, ns := range step.DeleteNamespaces {
		if st.namespace(ns) == nil {
			return fmt.Errorf("step %s deletes namespace %q, which does not exist by then", step.Name, ns)
		}
		st.Namespaces = slices.DeleteFunc(st.Namespaces, func(n *corev1.Namespace) bool { return n.Name == ns })
		st.Deployments = slices.DeleteFunc(st.Deployments, func(d *appsv1.Deployment) bool { return d.Namespace == ns })
		st.Services = slices.DeleteFunc(st.Services, func(s *corev1.Service) bool { return s.Namespace == ns })
		st.Policies = slices.DeleteFunc(st.Policies, func(p *networkingv1.NetworkPolicy) bool { return p.Namespace == ns })
	}
	if step.DeleteAdminPolicies {
		if len(st.Admin) == 0 {
			return fmt.Errorf("step %s deletes the admin policies, but none is in force by then", step.Name)
		}
		st.Admin = nil
	}
	for _, o := range step.Objects {
		if o.Service != nil {
			if _, _, err := st.backing(o.Service, o.Service.Spec.Ports[0]); err != nil {
				return &FileError{o.File, o.Line, err.Error()}
			}
		}
	}
	return nil
}

// applyAdmin adds or replaces an admin policy. Two of one API and tier at one priority are
// refused: the API leaves their order to the implementation, so no oracle could say what
// wins.
func (st *State) applyAdmin(o Object) error {
	st.Admin = slices.DeleteFunc(st.Admin, func(a Object) bool { return a.Admin.Ref == o.Admin.Ref })
	for _, a := range st.Admin {
		if a.Admin.Tier == o.Admin.Tier && a.Admin.Priority == o.Admin.Priority && a.AdminAPI() == o.AdminAPI() {
			return &FileError{o.File, o.Line, fmt.Sprintf("%s has priority %d in the %s tier, as %s (%s:%d) has: the API leaves their order to the implementation; give each its own priority",
				o.Admin.Ref, o.Admin.Priority, o.Admin.Tier, a.Admin.Ref, a.File, a.Line)}
		}
	}
	st.Admin = append(st.Admin, o)
	return nil
}

// WithoutAdmin is the state with no admin policy in force: the namespaces' layer alone.
func (st *State) WithoutAdmin() *State {
	c := st.Clone()
	c.Admin = nil
	return c
}

// AdminPolicies are the admin policies in force, as the evaluator reads them.
func (st *State) AdminPolicies() []netpol.AdminPolicy {
	var out []netpol.AdminPolicy
	for _, o := range st.Admin {
		out = append(out, *o.Admin)
	}
	return out
}

type namedObject interface {
	GetName() string
	GetNamespace() string
}

func sameMeta[T any, PT interface {
	*T
	namedObject
}](a, b *T) bool {
	return PT(a).GetName() == PT(b).GetName() && PT(a).GetNamespace() == PT(b).GetNamespace()
}

func objectNamespace(o Object) string {
	switch {
	case o.Deployment != nil:
		return o.Deployment.Namespace
	case o.Service != nil:
		return o.Service.Namespace
	case o.Policy != nil:
		return o.Policy.Namespace
	}
	return ""
}

func (st *State) namespace(name string) *corev1.Namespace {
	i := slices.IndexFunc(st.Namespaces, func(n *corev1.Namespace) bool { return n.Name == name })
	if i < 0 {
		return nil
	}
	return st.Namespaces[i]
}

// NamespaceLabels returns a namespace's labels as the API server stores them, with the
// kubernetes.io/metadata.name label it adds to every namespace.
func NamespaceLabels(ns *corev1.Namespace) map[string]string {
	l := maps.Clone(ns.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l["kubernetes.io/metadata.name"] = ns.Name
	return l
}

// backing finds the one deployment whose pods a service port reaches, and the container
// port number it lands on.
func (st *State) backing(svc *corev1.Service, sp corev1.ServicePort) (*appsv1.Deployment, corev1.ContainerPort, error) {
	var found []*appsv1.Deployment
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	for _, d := range st.Deployments {
		if d.Namespace == svc.Namespace && len(svc.Spec.Selector) > 0 && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return nil, corev1.ContainerPort{}, fmt.Errorf("service %s/%s selects %d deployments' pods; each service must select exactly one app", svc.Namespace, svc.Name, len(found))
	}
	d := found[0]
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, cp := range c.Ports {
			if (sp.TargetPort.StrVal != "" && cp.Name == sp.TargetPort.StrVal) ||
				(sp.TargetPort.StrVal == "" && cp.ContainerPort == targetPortNumber(sp)) {
				if cp.Protocol == "" {
					cp.Protocol = corev1.ProtocolTCP
				}
				return d, cp, nil
			}
		}
	}
	return nil, corev1.ContainerPort{}, fmt.Errorf("service %s/%s port %d: targetPort %s is not a container port of Deployment %s/%s",
		svc.Namespace, svc.Name, sp.Port, sp.TargetPort.String(), d.Namespace, d.Name)
}

func targetPortNumber(sp corev1.ServicePort) int32 {
	if sp.TargetPort.IntVal != 0 {
		return sp.TargetPort.IntVal
	}
	return sp.Port
}

// Change is a change to the policies in force: objects applied (a control's variant),
// policies ("namespace/name") deleted, or every admin policy left unenforced (DropAdmin: a
// Calico that does not know their API).
type Change struct {
	Name      string
	Apply     []Object
	Delete    []string
	DropAdmin bool
}

// Prediction is what the evaluator says a change does to a state.
type Prediction struct {
	// After is the state with the change; Want its matrix.
	After *State
	Want  *matrix.Matrix
	// Changed are the cells whose verdict changes (Want: before, Got: after).
	Changed []matrix.Mismatch
	// Deleted are the policies the change deletes (for the caller to restore).
	Deleted []*networkingv1.NetworkPolicy
}

// Predict is the one answer to "what does this policy change do?": the controls, the
// rollout's deletion control and their tests all ask it. byName applies the probe's own
// property that a source without DNS fails every target it probes by name
// (NamesNeedDNS). It fails on a deleted name that is no policy of the state.
func (st *State) Predict(s *Scenario, ext Externals, c Change, byName bool) (*Prediction, error) {
	p := &Prediction{After: st.Clone()}
	for _, ref := range c.Delete {
		ns, name, _ := strings.Cut(ref, "/")
		i := slices.IndexFunc(p.After.Policies, func(p *networkingv1.NetworkPolicy) bool { return p.Namespace == ns && p.Name == name })
		if i < 0 {
			var have []string
			for _, p := range st.Policies {
				have = append(have, p.Namespace+"/"+p.Name)
			}
			return nil, fmt.Errorf("policy %q is not in force at that step (have: %s)", ref, strings.Join(have, ", "))
		}
		p.Deleted = append(p.Deleted, p.After.Policies[i])
		p.After.Policies = slices.Delete(p.After.Policies, i, i+1)
	}
	if c.DropAdmin {
		p.After = p.After.WithoutAdmin()
	}
	if len(c.Apply) > 0 {
		if err := p.After.Apply(&Step{Name: c.Name, Objects: c.Apply}); err != nil {
			return nil, err
		}
	}
	before, err := st.ExpectedFamilies(s, ext, byName)
	if err != nil {
		return nil, err
	}
	if p.Want, err = p.After.ExpectedFamilies(s, ext, byName); err != nil {
		return nil, err
	}
	p.Changed, err = matrix.Compare(before, p.Want)
	return p, err
}

// expectedBy is Expected as probes by name (byName) or by address see it.
func (st *State) expectedBy(s *Scenario, externalIP string, byName bool) (*matrix.Matrix, error) {
	m, err := st.Expected(s, externalIP)
	if err != nil || !byName {
		return m, err
	}
	targets, err := st.Targets(s)
	if err != nil {
		return nil, err
	}
	NamesNeedDNS(m, targets)
	return m, nil
}

// DeletionOpens predicts what deleting some policies ("namespace/name") of this state
// opens: the cells the evaluator then computes allowed that are denied now. It returns the
// policies (for the caller to delete and restore) and those cells. It fails on a name that
// is no policy of the state, and when nothing would open (such a deletion proves nothing).
func (st *State) DeletionOpens(s *Scenario, ext Externals, refs []string) ([]*networkingv1.NetworkPolicy, []matrix.Cell, error) {
	p, err := st.Predict(s, ext, Change{Delete: refs}, false)
	if err != nil {
		return nil, nil, err
	}
	var opened []matrix.Cell
	for _, m := range p.Changed {
		if m.Got == matrix.Allowed && m.Want == matrix.Blocked {
			opened = append(opened, matrix.Cell{Row: m.Row, Col: m.Col})
		}
	}
	if len(opened) == 0 {
		return nil, nil, fmt.Errorf("deleting %s opens no denied cell (a policy that allows still isolates its pods): it cannot show a leak", strings.Join(refs, ", "))
	}
	return p.Deleted, opened, nil
}
