package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	v1alpha1 "sigs.k8s.io/network-policy-api/apis/v1alpha1"
	v1alpha2 "sigs.k8s.io/network-policy-api/apis/v1alpha2"
	"sigs.k8s.io/yaml"

	"github.com/netpol-e2e/harness/internal/netpol"
	"github.com/netpol-e2e/harness/internal/strictyaml"
	"github.com/netpol-e2e/harness/internal/versions"
)

// FileError names the file (and line, when known) of bad input and what to do about it.
type FileError struct {
	File string
	Line int
	Msg  string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Object is one decoded document of a YAML file, with where it came from.
type Object struct {
	File string
	Line int // first line of the document
	// Exactly one of these is set.
	Namespace  *corev1.Namespace
	Deployment *appsv1.Deployment
	Service    *corev1.Service
	Policy     *networkingv1.NetworkPolicy
	// An admin policy (AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy):
	// Admin is what the evaluator reads, AdminObject the typed object applied.
	Admin       *netpol.AdminPolicy
	AdminObject runtime.Object
}

// Ref is "Kind namespace/name", for messages.
func (o Object) Ref() string {
	switch {
	case o.Namespace != nil:
		return "Namespace " + o.Namespace.Name
	case o.Deployment != nil:
		return "Deployment " + o.Deployment.Namespace + "/" + o.Deployment.Name
	case o.Service != nil:
		return "Service " + o.Service.Namespace + "/" + o.Service.Name
	case o.Admin != nil:
		return o.Admin.Ref
	default:
		return "NetworkPolicy " + o.Policy.Namespace + "/" + o.Policy.Name
	}
}

type document struct {
	text  []byte
	start int // 1-based line of the document's first object line (comments skipped)
}

// line converts a 1-based line within the document's text to a line of the file.
func (d document) line(n int) int { return d.start - firstContentLine(d.text) + n - 1 }

// lineOfKey is the file line of the first line of d holding key (d's start if none).
func (d document) lineOfKey(key string) int {
	for i, l := range strings.Split(string(d.text), "\n") {
		if strings.Contains(l, key) {
			return d.line(i + 1)
		}
	}
	return d.start
}

// splitDocuments cuts a multi-document YAML file at its "---" lines, keeping line numbers.
func splitDocuments(data []byte) []document {
	var docs []document
	lines := bytes.SplitAfter(data, []byte("\n"))
	cur := document{start: 1}
	for i, l := range lines {
		if strings.TrimRight(string(l), " \t\r\n") == "---" {
			docs = append(docs, cur)
			cur = document{start: i + 2}
			continue
		}
		cur.text = append(cur.text, l...)
	}
	docs = append(docs, cur)
	docs = slices.DeleteFunc(docs, func(d document) bool { return isBlank(d.text) })
	for i := range docs {
		docs[i].start += firstContentLine(docs[i].text)
	}
	return docs
}

// firstContentLine is the 0-based offset of the first line that is not a comment or blank,
// so that messages point at the object rather than at its leading comment.
func firstContentLine(b []byte) int {
	for i, l := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "#") {
			return i
		}
	}
	return 0
}

// isBlank reports whether a document holds only comments and whitespace.
func isBlank(b []byte) bool {
	for _, l := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

var (
	yamlLineRe     = regexp.MustCompile(`line (\d+): (.*)`)
	unknownFieldRe = regexp.MustCompile(`unknown field "([^"]+)"`)
)

// decodeError turns a sigs.k8s.io/yaml error into a FileError with the best line we can find.
func decodeError(file string, d document, err error) error {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &FileError{file, d.line(n), "malformed YAML: " + m[2]}
	}
	if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
		field := m[1]
		if i := strings.LastIndex(field, "."); i >= 0 {
			field = field[i+1:]
		}
		line := d.start
		for i, l := range strings.Split(string(d.text), "\n") {
			t := strings.TrimLeft(strings.TrimSpace(l), "- ")
			if strings.HasPrefix(t, field+":") {
				line = d.line(i + 1)
				break
			}
		}
		return &FileError{file, line, fmt.Sprintf("unknown field %q: check its spelling and indentation against the API", m[1])}
	}
	return &FileError{file, d.start, "cannot decode: " + strings.TrimPrefix(msg, "error unmarshaling JSON: while decoding JSON: ")}
}

// LoadObjects reads a YAML file, or every *.yaml file of a directory in name order, and
// decodes each document strictly (unknown fields are errors).
func LoadObjects(path string) ([]Object, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &FileError{path, 0, "cannot read: " + errors.Unwrap(err).Error()}
	}
	files := []string{path}
	if st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.yaml"))
		if len(files) == 0 {
			return nil, &FileError{path, 0, "directory holds no *.yaml file"}
		}
	}
	var out []Object
	for _, f := range files {
		objs, err := loadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

func loadFile(file string) ([]Object, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &FileError{file, 0, "cannot read: " + err.Error()}
	}
	var out []Object
	for _, d := range splitDocuments(data) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(d.text, &head); err != nil {
			return nil, decodeError(file, d, err)
		}
		o := Object{File: file, Line: d.start}
		var target any
		want := ""
		switch head.Kind {
		case "Namespace":
			o.Namespace, target, want = &corev1.Namespace{}, &o.Namespace, "v1"
		case "Service":
			o.Service, target, want = &corev1.Service{}, &o.Service, "v1"
		case "Deployment":
			o.Deployment, target, want = &appsv1.Deployment{}, &o.Deployment, "apps/v1"
		case "NetworkPolicy":
			o.Policy, target, want = &networkingv1.NetworkPolicy{}, &o.Policy, "networking.k8s.io/v1"
		case "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy":
			target, want = adminTarget(head.Kind)
		default:
			return nil, &FileError{file, d.start, fmt.Sprintf("kind %q is not supported here (want Namespace, Service, Deployment, NetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy)", head.Kind)}
		}
		if head.APIVersion != want {
			return nil, &FileError{file, d.start, fmt.Sprintf("%s has apiVersion %q: use %q (apps/v1beta2 and friends no longer exist)", head.Kind, head.APIVersion, want)}
		}
		if err := strictyaml.Unmarshal(d.text, target); err != nil {
			return nil, decodeError(file, d, err)
		}
		if err := convertAdmin(&o, target); err != nil {
			return nil, &FileError{file, d.lineOfKey(err.key), err.msg}
		}
		if err := checkMeta(o); err != nil {
			return nil, &FileError{file, d.start, err.Error()}
		}
		if err := checkObject(o); err != nil {
			return nil, &FileError{file, d.lineOfKey(err.key), err.msg}
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return nil, &FileError{file, 0, "holds no object"}
	}
	return out, nil
}

// objectError names the YAML key nearest to what is wrong, for the line number.
type objectError struct{ key, msg string }

// checkObject finds, before any cluster, what would fail only on a cluster: a policy the
// API server refuses, a Deployment whose selector misses its own pods, an image the nodes
// cannot get, a container port the app does not listen on.
func checkObject(o Object) *objectError {
	switch {
	case o.Policy != nil:
		if err := netpol.Validate(o.Policy); err != nil {
			return &objectError{"spec:", fmt.Sprintf("NetworkPolicy %s/%s: %v", o.Policy.Namespace, o.Policy.Name, err)}
		}
	case o.Service != nil:
		svc := o.Service
		if len(svc.Spec.Ports) == 0 {
			return &objectError{"ports:", fmt.Sprintf("Service %s/%s has no ports: give it one (the port the app serves)", svc.Namespace, svc.Name)}
		}
		for i, p := range svc.Spec.Ports {
			if err := netpol.ValidPort(fmt.Sprintf("Service %s/%s spec.ports[%d].port", svc.Namespace, svc.Name, i), intstr.FromInt32(p.Port)); err != nil {
				return &objectError{"port:", err.Error()}
			}
			if p.TargetPort.Type == intstr.String || p.TargetPort.IntVal != 0 {
				if err := netpol.ValidPort(fmt.Sprintf("Service %s/%s spec.ports[%d].targetPort", svc.Namespace, svc.Name, i), p.TargetPort); err != nil {
					return &objectError{"targetPort:", err.Error()}
				}
			}
			if p.Name != "" || len(svc.Spec.Ports) > 1 {
				if errs := validation.IsDNS1123Label(p.Name); len(errs) > 0 {
					return &objectError{"ports:", fmt.Sprintf("Service %s/%s spec.ports[%d].name %q: %s (a Service with several ports names each)", svc.Namespace, svc.Name, i, p.Name, strings.Join(errs, "; "))}
				}
			}
		}
	case o.Deployment != nil:
		d := o.Deployment
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
			return &objectError{"selector:", fmt.Sprintf("Deployment %s/%s needs spec.selector.matchLabels", d.Namespace, d.Name)}
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			return &objectError{"selector:", fmt.Sprintf("Deployment %s/%s: spec.selector %v does not match its pod template's labels %v (the API server refuses it)", d.Namespace, d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)}
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Image != versions.StarImage() {
				return &objectError{"image:", fmt.Sprintf("Deployment %s/%s container %s: image %s, but the one image the suite builds and delivers to the nodes (local registry or kind load) is %s: use it", d.Namespace, d.Name, c.Name, c.Image, versions.StarImage())}
			}
			listen := listenPort(c.Args)
			for _, p := range c.Ports {
				if err := netpol.ValidPort(fmt.Sprintf("Deployment %s/%s container %s containerPort", d.Namespace, d.Name, c.Name), intstr.FromInt32(p.ContainerPort)); err != nil {
					return &objectError{"containerPort:", err.Error()}
				}
				if p.Name != "" {
					if err := netpol.ValidPort(fmt.Sprintf("Deployment %s/%s container %s port name", d.Namespace, d.Name, c.Name), intstr.FromString(p.Name)); err != nil {
						return &objectError{"name:", err.Error()}
					}
				}
				if listen != 0 && p.ContainerPort != listen {
					return &objectError{"containerPort:", fmt.Sprintf("Deployment %s/%s container %s: containerPort %d but the app listens on %d (--listen): make them equal", d.Namespace, d.Name, c.Name, p.ContainerPort, listen)}
				}
			}
		}
	}
	return nil
}

// listenPort is the port of a star container's --listen=:PORT argument (0: none).
func listenPort(args []string) int32 {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--listen="); ok {
			if _, port, err := net.SplitHostPort(v); err == nil {
				n, _ := strconv.Atoi(port)
				return int32(n)
			}
		}
	}
	return 0
}

func checkMeta(o Object) error {
	switch {
	case o.Namespace != nil:
		if errs := validation.IsDNS1123Label(o.Namespace.Name); len(errs) > 0 {
			return fmt.Errorf("namespace name %q: %s", o.Namespace.Name, strings.Join(errs, "; "))
		}
		return nil
	case o.Deployment != nil:
		return needNamed("Deployment", o.Deployment.Name, o.Deployment.Namespace, validation.IsDNS1123Subdomain)
	case o.Service != nil:
		return needNamed("Service", o.Service.Name, o.Service.Namespace, validation.IsDNS1035Label)
	case o.Admin != nil:
		m := o.AdminObject.(metav1.Object)
		if m.GetNamespace() != "" {
			return fmt.Errorf("%s is cluster-scoped: remove metadata.namespace %q", o.Admin.Ref, m.GetNamespace())
		}
		if errs := validation.IsDNS1123Subdomain(m.GetName()); len(errs) > 0 {
			return fmt.Errorf("%s: name %q: %s", o.Admin.Ref, m.GetName(), strings.Join(errs, "; "))
		}
		return nil
	default:
		return needNamed("NetworkPolicy", o.Policy.Name, o.Policy.Namespace, validation.IsDNS1123Subdomain)
	}
}

// AdminAPI is an admin policy's apiVersion ("" for other objects).
func (o Object) AdminAPI() string {
	if o.AdminObject == nil {
		return ""
	}
	return o.AdminObject.GetObjectKind().GroupVersionKind().GroupVersion().String()
}

// The admin policies' API versions: ANP and BANP (Calico v3.29 to v3.31), ClusterNetworkPolicy
// (v3.32 on).
const (
	AdminAPIv1alpha1 = "policy.networking.k8s.io/v1alpha1"
	AdminAPIv1alpha2 = "policy.networking.k8s.io/v1alpha2"
)

// convertAdmin sets o's admin fields from a decoded admin policy (target), refusing what the
// API server or the evaluator would (netpol's converters), at the field's key.
func convertAdmin(o *Object, target any) *objectError {
	var (
		ap  netpol.AdminPolicy
		err error
	)
	switch t := target.(type) {
	case *v1alpha1.AdminNetworkPolicy:
		ap, err = netpol.FromANP(t)
		o.AdminObject = t
	case *v1alpha1.BaselineAdminNetworkPolicy:
		ap, err = netpol.FromBANP(t)
		o.AdminObject = t
	case *v1alpha2.ClusterNetworkPolicy:
		ap, err = netpol.FromCNP(t)
		o.AdminObject = t
	default:
		return nil
	}
	if err != nil {
		return &objectError{fieldKey(err.Error()), fmt.Sprintf("%s: %v", ap.Ref, err)}
	}
	o.Admin = &ap
	return nil
}

// AdminFromUnstructured decodes an admin policy as a cluster holds it (a simulated one).
func AdminFromUnstructured(u map[string]any) (Object, error) {
	kind, _ := u["kind"].(string)
	target, _ := adminTarget(kind)
	if target == nil {
		return Object{}, fmt.Errorf("kind %q is no admin policy", kind)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u, target); err != nil {
		return Object{}, err
	}
	var o Object
	if err := convertAdmin(&o, target); err != nil {
		return Object{}, errors.New(err.msg)
	}
	return o, nil
}

// adminTarget is an empty admin policy of a kind, to decode into, and its apiVersion (nil
// for a kind that is no admin policy).
func adminTarget(kind string) (runtime.Object, string) {
	switch kind {
	case "AdminNetworkPolicy":
		return &v1alpha1.AdminNetworkPolicy{}, AdminAPIv1alpha1
	case "BaselineAdminNetworkPolicy":
		return &v1alpha1.BaselineAdminNetworkPolicy{}, AdminAPIv1alpha1
	case "ClusterNetworkPolicy":
		return &v1alpha2.ClusterNetworkPolicy{}, AdminAPIv1alpha2
	}
	return nil, ""
}

// fieldKey is the YAML key of the last field an error's path names ("spec.egress[1].to[0]:
// ..." -> "to:"), for its line.
func fieldKey(msg string) string {
	path, _, _ := strings.Cut(msg, ":")
	path = path[strings.LastIndex(path, ".")+1:]
	if i := strings.Index(path, "["); i >= 0 {
		path = path[:i]
	}
	return path + ":"
}

// needNamed requires a name and a namespace the API server accepts (valid is the name's
// rule for the kind).
func needNamed(kind, name, ns string, valid func(string) []string) error {
	if name == "" || ns == "" {
		return fmt.Errorf("%s needs metadata.name and metadata.namespace (got %q/%q)", kind, ns, name)
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Errorf("%s %s/%s: namespace %q: %s", kind, ns, name, ns, strings.Join(errs, "; "))
	}
	if errs := valid(name); len(errs) > 0 {
		return fmt.Errorf("%s %s/%s: name %q: %s", kind, ns, name, name, strings.Join(errs, "; "))
	}
	return nil
}
