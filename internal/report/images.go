package report

import (
	"fmt"
	"strings"
	"time"
)

// ImageDelivery is how one Calico build's images reached the nodes: kind-loaded into
// every node, or pushed to the local registry under their upstream names (Pushed) for
// the nodes to pull as the pods start.
type ImageDelivery struct {
	Version  string        `json:"version"`
	KindLoad bool          `json:"kindLoad"`
	Pushed   []string      `json:"pushed,omitempty"`
	Layers   Layers        `json:"layers"`
	Took     time.Duration `json:"tookNs"`
}

// Layers counts a push's layers: sent, and already in the registry.
type Layers struct {
	Sent int `json:"sent"`
	Had  int `json:"had"`
}

func (l Layers) String() string {
	return fmt.Sprintf("%d layers sent, %d already there", l.Sent, l.Had)
}

func (d ImageDelivery) String() string {
	if d.KindLoad {
		return fmt.Sprintf("calico %s images kind-loaded into every node in %s", d.Version, d.Took.Round(100*time.Millisecond))
	}
	return fmt.Sprintf("calico %s images pushed to the local registry as %s in %s (%s); the nodes pull them as the pods start",
		d.Version, strings.Join(d.Pushed, ", "), d.Took.Round(100*time.Millisecond), d.Layers)
}

// ImageMeasurement is one Calico build's images delivered both ways onto Nodes, from
// nothing each time: kind load, and the registry (the push, then every node's pull).
type ImageMeasurement struct {
	Version  string        `json:"version"`
	Nodes    int           `json:"nodes"`
	KindLoad time.Duration `json:"kindLoadNs"`
	Push     time.Duration `json:"pushNs"`
	Pull     time.Duration `json:"pullNs"`
	Layers   Layers        `json:"layers"`
}

func (m ImageMeasurement) String() string {
	r := func(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }
	return fmt.Sprintf("calico %s, 3 images onto %d nodes: kind load %s; registry %s = push %s (%s) + every node pulls %s; registry/kind load %.2f, its pull alone %.2f",
		m.Version, m.Nodes, r(m.KindLoad), r(m.Push+m.Pull), r(m.Push), m.Layers, r(m.Pull), (m.Push+m.Pull).Seconds()/m.KindLoad.Seconds(), m.Pull.Seconds()/m.KindLoad.Seconds())
}

// AdminForms is what a step did to the admin policies' forms before its matrix was
// verified: each form applied (its objects, and the CRDs it installed from a version's
// manifest) and the form deleted.
type AdminForms struct {
	Applied []AdminForm `json:"applied,omitempty"`
	Deleted *AdminForm  `json:"deleted,omitempty"`
}

// AdminForm is one form (an API's kind) of the admin policies.
type AdminForm struct {
	API     string   `json:"api"`
	Objects int      `json:"objects"`
	CRDs    []string `json:"crds,omitempty"`
	From    string   `json:"from,omitempty"`
}

func (a *AdminForms) lines() []string {
	var out []string
	for _, f := range a.Applied {
		out = append(out, fmt.Sprintf("applied the %s form (%d objects; CRDs %s from the %s manifest)", f.API, f.Objects, strings.Join(f.CRDs, ", "), f.From))
	}
	if f := a.Deleted; f != nil {
		out = append(out, fmt.Sprintf("deleted the %s form (%d objects)", f.API, f.Objects))
	}
	return out
}
