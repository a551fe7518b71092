package star

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

//go:embed ui.html
var uiPage []byte

// Node is one app in the management UI's graph.
type Node struct {
	Name string `json:"name"`
	// Seen: the UI itself reached the probe's /status.
	Seen bool `json:"seen"`
}

// Edge says From reached To at its last poll.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Graph is served at /graph.json and drawn by the page.
type Graph struct {
	Version string    `json:"version"`
	Nodes   []Node    `json:"nodes"`
	Edges   []Edge    `json:"edges"`
	Updated time.Time `json:"updated"`
}

// Collector is the management UI: it polls every probe's /status.
type Collector struct {
	Version  string
	Probes   []NamedURL
	Interval time.Duration
	Timeout  time.Duration
	Client   *http.Client

	mu    sync.Mutex
	graph Graph
}

// NamedURL is "name=url" from --probes.
type NamedURL struct{ Name, URL string }

// ParseNamedURLs reads "a=http://...,b=http://...".
func ParseNamedURLs(s string) ([]NamedURL, error) {
	var out []NamedURL
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, u, ok := strings.Cut(item, "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("--probes item %q: want name=url", item)
		}
		out = append(out, NamedURL{name, u})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--probes lists no probe")
	}
	return out, nil
}

// nodeOf maps a probe URL to the app it belongs to: the first label of its host name,
// or the named probe whose URL has the same host.
func (c *Collector) nodeOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	for _, p := range c.Probes {
		if pu, err := url.Parse(p.URL); err == nil && pu.Host == u.Host {
			return p.Name
		}
	}
	host, _, _ := strings.Cut(u.Hostname(), ".")
	return host
}

// Run polls until ctx ends.
func (c *Collector) Run(ctx context.Context) { every(ctx, c.Interval, c.pollOnce) }

func (c *Collector) pollOnce(ctx context.Context) {
	statuses := make([]*Status, len(c.Probes))
	var wg sync.WaitGroup
	for i, p := range c.Probes {
		wg.Go(func() { statuses[i] = c.fetch(ctx, p.URL) })
	}
	wg.Wait()
	g := Graph{Version: c.Version, Updated: time.Now().UTC()}
	for i, p := range c.Probes {
		g.Nodes = append(g.Nodes, Node{Name: p.Name, Seen: statuses[i] != nil})
		if statuses[i] == nil {
			continue
		}
		for _, r := range statuses[i].Reaches {
			to := c.nodeOf(r.URL)
			if r.Reachable && to != p.Name && slices.ContainsFunc(c.Probes, func(q NamedURL) bool { return q.Name == to }) {
				g.Edges = append(g.Edges, Edge{From: p.Name, To: to})
			}
		}
	}
	c.mu.Lock()
	c.graph = g
	c.mu.Unlock()
}

func (c *Collector) fetch(ctx context.Context, u string) *Status {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var st Status
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return nil
	}
	return &st
}

// Graph returns the last poll's graph.
func (c *Collector) Graph() Graph {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.graph
}

// Handler serves the page, /graph.json, /status and /healthz.
func (c *Collector) Handler(name string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(uiPage)
	})
	mux.HandleFunc("GET /graph.json", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, c.Graph()) })
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, Status{Name: name, Mode: "collect"})
	})
	mux.HandleFunc("GET /healthz", healthz)
	return mux
}
