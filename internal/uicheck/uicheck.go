package uicheck

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netpol-e2e/harness/internal/browser"
	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/harness"
	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/scenario"
	"github.com/netpol-e2e/harness/internal/star"
)

// Locate finds the browser and a node address for the UI's NodePort.
type Locate func(ctx context.Context) (nodeIP, chromium string, err error)

// Check opens the management UI in headless Chromium (through the service's NodePort on
// the node locate finds, in its setup) and requires it to draw exactly the arrows the
// harness observes: app a -> app b for every pair of the UI's probes whose cell a full
// round observes allowed. The round must match step i's fixture first. The screenshot
// goes into the report.
func Check(h *harness.Harness, i int, locate Locate) *check.Check {
	var nodeIP, chromium string
	return &check.Check{
		Name: h.Scenario.Steps[i].Name + "-management-ui-in-browser", Kind: "check",
		Setup: func(ctx context.Context, _ *report.Step) (err error) {
			nodeIP, chromium, err = locate(ctx)
			return err
		},
		Assess: func(ctx context.Context, rs *report.Step) error { return run(ctx, h, rs, i, nodeIP, chromium) },
	}
}

func run(ctx context.Context, h *harness.Harness, rs *report.Step, i int, nodeIP, chromium string) error {
	step, st := &h.Scenario.Steps[i], h.States[i]
	want, err := h.Expected(step, st)
	if err != nil {
		return err
	}
	apps, err := probes(st.Sources())
	if err != nil {
		return err
	}
	// The observed matrix the page is compared with.
	plan, err := h.Plan(ctx, st)
	if err != nil {
		return err
	}
	obs, details := h.Engine.Round(ctx, plan, want, nil)
	if mm, err := matrix.Compare(want, obs); err != nil || len(mm) > 0 {
		return fmt.Errorf("the cluster is not at %s before the browser check:\n%s", step.Name, matrix.RenderDiff(want, mm))
	}
	h.Record(rs, want, obs, details, plan)
	expect, err := edges(obs, apps)
	if err != nil {
		return err
	}
	svc, err := h.Kube.Clientset().CoreV1().Services("management-ui").Get(ctx, "management-ui", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("management-ui service: %w", err)
	}
	if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].NodePort == 0 {
		return fmt.Errorf("management-ui service has no NodePort")
	}
	url := "http://" + net.JoinHostPort(nodeIP, strconv.Itoa(int(svc.Spec.Ports[0].NodePort))) + "/"
	var last browser.Page
	page, err := browser.Open(ctx, url, browser.Options{Exec: chromium, Timeout: 90 * time.Second, Ready: func(p browser.Page) bool {
		last = p
		return len(p.Unseen) == 0 && sameEdges(p.Edges, expect) && len(p.Nodes) == len(apps)
	}})
	if page != nil {
		rs.Screenshot = page.Screenshot
		last = *page
	}
	rs.UI = &report.UI{URL: url, Browser: chromium, Page: last, Expected: expect, Apps: len(apps)}
	if err != nil {
		return fmt.Errorf("the management UI does not show the observed matrix: %w", err)
	}
	rs.UI.Matched = true
	return nil
}

// app is one of the UI's probes: its name and its row and column in the matrix.
type app struct{ name, row string }

// probes reads the management UI's --probes from its deployment in the state.
func probes(sources []scenario.Source) ([]app, error) {
	var arg string
	for _, s := range sources {
		for _, c := range s.Deployment.Spec.Template.Spec.Containers {
			for _, a := range c.Args {
				if v, ok := strings.CutPrefix(a, "--probes="); ok {
					arg = v
				}
			}
		}
	}
	if arg == "" {
		return nil, fmt.Errorf("no deployment of this state runs the management UI (star collect --probes=...)")
	}
	list, err := star.ParseNamedURLs(arg)
	if err != nil {
		return nil, err
	}
	var apps []app
	for _, p := range list {
		a := app{name: p.Name}
		for _, s := range sources {
			if strings.HasSuffix(s.ID, "/"+p.Name) {
				a.row = s.ID
			}
		}
		if a.row == "" {
			return nil, fmt.Errorf("the management UI probes %q, which is no source of the matrix", p.Name)
		}
		apps = append(apps, a)
	}
	return apps, nil
}

// uiEdges: a -> b for every pair of UI apps whose cell (a's row, b's service column) is allowed.
func edges(obs *matrix.Matrix, apps []app) ([]browser.Edge, error) {
	var out []browser.Edge
	for _, a := range apps {
		for _, b := range apps {
			if a.name == b.name {
				continue
			}
			col := ""
			for _, c := range obs.Cols {
				// The app's IPv4 column: the page draws what the apps' own probes see.
				if _, v6 := scenario.IsIPv6Column(c); !v6 && strings.HasPrefix(c, b.name+":") {
					col = c
				}
			}
			if col == "" {
				return nil, fmt.Errorf("no column of the matrix is app %q's service", b.name)
			}
			if v, _ := obs.Get(a.row, col); v == matrix.Allowed {
				out = append(out, browser.Edge{From: a.name, To: b.name})
			}
		}
	}
	return out, nil
}

func sameEdges(a, b []browser.Edge) bool {
	return browser.EdgeList(a) == browser.EdgeList(b)
}
