package scenario

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/netpol-e2e/harness/internal/strictyaml"
)

// DNSTarget is the name-lookup target.
type DNSTarget struct {
	Target    string            `json:"target"`
	Namespace string            `json:"namespace"`
	PodLabels map[string]string `json:"podLabels"`
	Port      int32             `json:"port"`
	Protocol  corev1.Protocol   `json:"protocol"`
	Lookup    string            `json:"lookup"`
}

// ExternalTarget is the host outside the cluster.
type ExternalTarget struct {
	Target string `json:"target"`
	Port   int32  `json:"port"`
	IP     string `json:"ip"`
	// IPv6 is its IPv6 address in a dual-stack run.
	IPv6 string `json:"ipv6,omitempty"`
}

// Step is one step of the workshop.
type Step struct {
	Name  string   `json:"name"`
	Apply []string `json:"apply,omitempty"`
	// Admin is a step of admin policies, written once per API (AdminAPIs): the files of
	// each, one of which is applied (SelectAdminAPI), both forms meaning the same.
	Admin            map[string][]string `json:"admin,omitempty"`
	DeleteNamespaces []string            `json:"deleteNamespaces,omitempty"`
	// DeleteAdminPolicies deletes every admin policy in force (they are cluster-scoped:
	// deleting namespaces leaves them).
	DeleteAdminPolicies bool `json:"deleteAdminPolicies,omitempty"`

	// Objects are what Apply (or the selected Admin form) decodes to, in order.
	Objects []Object `json:"-"`
	// AdminForms are the decoded objects of each Admin form.
	AdminForms map[string][]Object `json:"-"`
	// Fixture is the path of the declared truth table ("" for a step that probes nothing).
	Fixture string `json:"-"`
}

// Scenario is scenario.yaml, loaded with every file it names.
type Scenario struct {
	Dir      string         `json:"-"`
	File     string         `json:"-"`
	DNS      []DNSTarget    `json:"dns"`
	External ExternalTarget `json:"external"`
	Steps    []Step         `json:"steps"`
	// AdminAPI is the admin form the steps use (SelectAdminAPI; "" before).
	AdminAPI string `json:"-"`
}

// AdminAPIs are the keys of a step's admin forms: v1alpha1 (AdminNetworkPolicy,
// BaselineAdminNetworkPolicy) and v1alpha2 (ClusterNetworkPolicy), with the apiVersion each
// form's files must use.
var AdminAPIs = map[string]string{"v1alpha1": AdminAPIv1alpha1, "v1alpha2": AdminAPIv1alpha2}

// AdminKinds says what each form's files hold.
var AdminKinds = map[string]string{"v1alpha1": "AdminNetworkPolicy, BaselineAdminNetworkPolicy", "v1alpha2": "ClusterNetworkPolicy"}

// SelectAdminAPI makes every admin step apply its form for api ("v1alpha1" or "v1alpha2");
// States computed before are stale.
func (s *Scenario) SelectAdminAPI(api string) error {
	if _, ok := AdminAPIs[api]; !ok {
		return fmt.Errorf("admin API %q: want v1alpha1 or v1alpha2", api)
	}
	for i := range s.Steps {
		if st := &s.Steps[i]; st.Admin != nil {
			st.Objects = st.AdminForms[api]
		}
	}
	s.AdminAPI = api
	return nil
}

// WithoutAdminSteps drops the admin steps (and their fixtures' part in the run), for a Calico
// release that enforces neither API; the caller says so in its report.
func (s *Scenario) WithoutAdminSteps() {
	s.Steps = slices.DeleteFunc(s.Steps, func(st Step) bool { return st.Admin != nil })
	s.AdminAPI = ""
}

// AdminForm is the admin policies of every admin step in the form api.
func (s *Scenario) AdminForm(api string) []Object {
	var out []Object
	for _, st := range s.Steps {
		out = append(out, st.AdminForms[api]...)
	}
	return out
}

// AllAdminObjects are the admin policies of every admin step, in every form.
func (s *Scenario) AllAdminObjects() []Object {
	var out []Object
	for _, api := range slices.Sorted(maps.Keys(AdminAPIs)) {
		out = append(out, s.AdminForm(api)...)
	}
	return out
}

var stepName = regexp.MustCompile(`^[0-9]{2}-[a-z0-9-]+$`)

// Load reads a scenario file and every manifest and policy it names, and checks that the
// steps fit together (namespaces exist before anything is put in them, fixtures exist for
// every step that leaves pods running). Nothing touches a cluster.
func Load(file string) (*Scenario, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &FileError{file, 0, "cannot read: " + err.Error()}
	}
	s := &Scenario{Dir: filepath.Dir(file), File: file}
	if err := strictyaml.Unmarshal(data, s); err != nil {
		return nil, decodeError(file, document{text: data, start: 1 + firstContentLine(data)}, err)
	}
	lineOf := func(name string) int {
		return max(1, lineContaining(data, "name: "+name))
	}
	if s.External.Target == "" || s.External.Port == 0 {
		return nil, &FileError{file, 1, "external (target, port) is required"}
	}
	if a, err := netip.ParseAddr(s.External.IP); err != nil || !a.Is4() {
		return nil, &FileError{file, max(1, lineContaining(data, "ip: "+s.External.IP)), fmt.Sprintf("external ip %q: want an IPv4 address", s.External.IP)}
	}
	if a, err := netip.ParseAddr(s.External.IPv6); s.External.IPv6 != "" && (err != nil || !a.Is6()) {
		return nil, &FileError{file, max(1, lineContaining(data, "ipv6: "+s.External.IPv6)), fmt.Sprintf("external ipv6 %q: want an IPv6 address", s.External.IPv6)}
	}
	for _, d := range s.DNS {
		if d.Target == "" || d.Lookup == "" || d.Port == 0 || (d.Protocol != corev1.ProtocolUDP && d.Protocol != corev1.ProtocolTCP) {
			return nil, &FileError{file, max(1, lineContaining(data, "target: "+d.Target)), "each dns target needs target, lookup, port and protocol UDP or TCP"}
		}
	}
	seen := map[string]bool{}
	for i := range s.Steps {
		st := &s.Steps[i]
		if !stepName.MatchString(st.Name) || seen[st.Name] {
			return nil, &FileError{file, lineOf(st.Name), fmt.Sprintf("step name %q must be unique and look like 03-backend-policy", st.Name)}
		}
		seen[st.Name] = true
		if len(st.Apply) == 0 && len(st.Admin) == 0 && len(st.DeleteNamespaces) == 0 && !st.DeleteAdminPolicies {
			return nil, &FileError{file, lineOf(st.Name), fmt.Sprintf("step %s neither applies nor deletes anything", st.Name)}
		}
		for _, p := range st.Apply {
			objs, err := LoadObjects(filepath.Join(s.Dir, p))
			if err != nil {
				return nil, err
			}
			st.Objects = append(st.Objects, objs...)
		}
		if st.Admin == nil {
			continue
		}
		if len(st.Apply) > 0 {
			return nil, &FileError{file, lineOf(st.Name), fmt.Sprintf("step %s has both apply and admin: put the admin policies in a step of their own", st.Name)}
		}
		st.AdminForms = map[string][]Object{}
		for _, api := range slices.Sorted(maps.Keys(AdminAPIs)) {
			paths := st.Admin[api]
			if len(paths) == 0 {
				return nil, &FileError{file, lineOf(st.Name), fmt.Sprintf("step %s: admin needs both forms, v1alpha1 (AdminNetworkPolicy, BaselineAdminNetworkPolicy) and v1alpha2 (ClusterNetworkPolicy): %s is missing", st.Name, api)}
			}
			for _, p := range paths {
				objs, err := LoadObjects(filepath.Join(s.Dir, p))
				if err != nil {
					return nil, err
				}
				for _, o := range objs {
					if o.AdminAPI() != AdminAPIs[api] {
						return nil, &FileError{o.File, o.Line, fmt.Sprintf("%s in step %s's admin %s form: that form holds only %s admin policies", o.Ref(), st.Name, api, AdminAPIs[api])}
					}
				}
				st.AdminForms[api] = append(st.AdminForms[api], objs...)
			}
		}
		for api := range st.Admin {
			if _, ok := AdminAPIs[api]; !ok {
				return nil, &FileError{file, lineOf(st.Name), fmt.Sprintf("step %s: admin form %q: want v1alpha1 and v1alpha2", st.Name, api)}
			}
		}
	}
	if len(s.Steps) == 0 {
		return nil, &FileError{file, 1, "no steps"}
	}
	// Walk the steps once: every object must land in a namespace that exists by then, and
	// every step that leaves app pods behind gets a fixture path (LoadFixture reads it).
	// Both admin forms are walked; the newer is selected.
	for _, api := range slices.Sorted(maps.Keys(AdminAPIs)) {
		if err := s.SelectAdminAPI(api); err != nil {
			return nil, err
		}
		state := NewState()
		for i := range s.Steps {
			st := &s.Steps[i]
			if err := state.Apply(st); err != nil {
				return nil, err
			}
			if len(state.Deployments) > 0 {
				st.Fixture = filepath.Join(s.Dir, "fixtures", st.Name+".txt")
			}
		}
	}
	// A DNS target looks up a service of the app: a typo would only show on a cluster,
	// as every lookup failing.
	services := map[string]bool{}
	for _, st := range s.Steps {
		for _, o := range st.Objects {
			if o.Service != nil {
				services[o.Service.Name+"."+o.Service.Namespace+".svc.cluster.local."] = true
			}
		}
	}
	for _, d := range s.DNS {
		if !services[d.Lookup] {
			return nil, &FileError{file, max(1, lineContaining(data, "lookup: "+d.Lookup)), fmt.Sprintf(
				"dns target %s looks up %q, which is no service of the scenario: use SERVICE.NAMESPACE.svc.cluster.local. (with the trailing dot) of one the steps apply", d.Target, d.Lookup)}
		}
	}
	return s, nil
}

func lineContaining(data []byte, s string) int {
	re := regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(s) + `\s*$`)
	for i, l := range splitLines(data) {
		if re.MatchString(l) {
			return i + 1
		}
	}
	return 0
}

func splitLines(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == '\n' {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return append(out, string(b[start:]))
}

// States returns the state after each step, in order.
func (s *Scenario) States() ([]*State, error) {
	state := NewState()
	var out []*State
	for i := range s.Steps {
		if err := state.Apply(&s.Steps[i]); err != nil {
			return nil, err
		}
		out = append(out, state.Clone())
	}
	return out, nil
}
