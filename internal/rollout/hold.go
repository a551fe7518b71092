package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
	"github.com/netpol-e2e/harness/internal/probe"
	"github.com/netpol-e2e/harness/internal/star"
)

// Holder keeps one long-lived connection open on every given cell (star check --hold,
// one stream per source), like Cilium's conn-disrupt test: established connections must
// survive a rollout.
type Holder struct {
	Stream Streamer
	Binary string
	// Interval is how often each connection exchanges a request and its reply.
	Interval time.Duration
	// Budget is the longest a reply may take before it counts as a disruption.
	Budget time.Duration
	// Timeout and DNSTimeout are star check's (connect and name resolution).
	Timeout, DNSTimeout time.Duration
	Max                 time.Duration
}

// Disruption is one held connection breaking: reset, closed, late or error.
type Disruption struct {
	Cell   matrix.Cell `json:"-"`
	At     time.Time   `json:"at"`
	Kind   string      `json:"kind"`
	Detail string      `json:"detail,omitempty"`
	// Injected: the connection control caused it on purpose.
	Injected bool `json:"injected,omitempty"`
}

// Conn is what happened to one cell's held connection.
type Conn struct {
	Cell        matrix.Cell   `json:"cell"`
	Opens       int           `json:"opens"`
	Exchanges   int           `json:"exchanges"`
	WorstGap    time.Duration `json:"worstGapNs"`
	Reconnects  int           `json:"reconnects"`
	Disruptions []Disruption  `json:"disruptions,omitempty"`
}

// HoldSession is a running hold.
type HoldSession struct {
	streams
	conns map[matrix.Cell]*Conn
}

// Command is what runs in a source pod.
func (h *Holder) Command(urls []string) []string {
	return star.Request{Timeout: h.Timeout, DNSTimeout: h.DNSTimeout, Hold: h.Interval, ReplyBudget: h.Budget, Max: h.Max, StdinStop: true, Targets: urls}.Argv(h.Binary)
}

// Start opens the connections: cells' rows are plan sources, columns plan targets whose
// URL is http.
func (h *Holder) Start(ctx context.Context, p probe.Plan, cells []matrix.Cell) (*HoldSession, error) {
	urlOf := map[string]string{}
	for _, t := range p.Targets {
		urlOf[t.ID] = t.URL
	}
	byRow := map[string][]string{}
	hs := &HoldSession{conns: map[matrix.Cell]*Conn{}}
	for _, c := range cells {
		if !strings.HasPrefix(urlOf[c.Col], "http://") {
			return nil, fmt.Errorf("cell %s -> %s: a held connection needs an http target", c.Row, c.Col)
		}
		byRow[c.Row] = append(byRow[c.Row], c.Col)
		hs.conns[c] = &Conn{Cell: c}
	}
	ctx, cancel := context.WithCancel(ctx)
	hs.cancel = cancel
	for _, src := range p.Sources {
		urls, colOf := sourceURLs(byRow[src.ID], urlOf)
		if len(urls) == 0 {
			continue
		}
		hs.wg.Go(func() { hs.run(ctx, h.Stream, src, h.Command(urls), func(line string) { hs.add(src.ID, colOf, line) }) })
	}
	return hs, nil
}

func (hs *HoldSession) add(source string, colOf map[string]string, line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	var e star.HoldEvent
	hs.mu.Lock()
	defer hs.mu.Unlock()
	err := json.Unmarshal([]byte(line), &e)
	c, ok := hs.conns[matrix.Cell{Row: source, Col: colOf[e.Target]}]
	if err != nil || !ok {
		hs.events = append(hs.events, StreamEvent{At: time.Now(), Source: source, Err: fmt.Sprintf("unreadable hold line %q", line)})
		return
	}
	switch e.Event {
	case "open":
		c.Opens++
	case "disrupted":
		c.Disruptions = append(c.Disruptions, Disruption{Cell: c.Cell, At: time.UnixMilli(e.At), Kind: e.Kind, Detail: e.Detail})
	case "stats":
		// Counters are cumulative per stream; a restarted stream starts again from zero.
		c.Exchanges = max(c.Exchanges, e.Exchanges)
		c.WorstGap = max(c.WorstGap, time.Duration(e.WorstGapMs)*time.Millisecond)
		c.Reconnects = max(c.Reconnects, e.Reconnects)
	}
}

// Stop closes every connection and returns, per cell in cells' order, what happened to
// it, and the streams' interruptions (a hold stream that ended early broke its
// connections: that is a disruption of every cell it held too, see Judge).
func (hs *HoldSession) Stop() ([]*Conn, []StreamEvent) {
	events := hs.stop()
	return hs.Snapshot(), events
}

// Snapshot returns what happened to every connection so far, sorted by cell.
func (hs *HoldSession) Snapshot() []*Conn {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []*Conn
	for _, c := range hs.conns {
		cp := *c
		out = append(out, &cp)
	}
	slices.SortFunc(out, func(a, b *Conn) int {
		return strings.Compare(a.Cell.Row+"\x00"+a.Cell.Col, b.Cell.Row+"\x00"+b.Cell.Col)
	})
	return out
}

// JudgeConns lists what fails: a cell never connected or without a single exchange, and
// every disruption beyond the allowed count; expected are disruptions a control caused on
// purpose (they do not count, but must have happened: see the caller).
func JudgeConns(conns []*Conn, streamEvents []StreamEvent, allowed int, expected func(Disruption) bool) []string {
	var out []string
	var counted []Disruption
	for _, c := range conns {
		if c.Opens == 0 || c.Exchanges == 0 {
			out = append(out, fmt.Sprintf("held connection %s -> %s never exchanged a message (opens %d)", c.Cell.Row, c.Cell.Col, c.Opens))
		}
		for _, d := range c.Disruptions {
			if expected == nil || !expected(d) {
				counted = append(counted, d)
			}
		}
	}
	for _, e := range streamEvents {
		out = append(out, fmt.Sprintf("held connections from %s: the hold stream was interrupted at %s: %s", e.Source, e.At.Format("15:04:05.000"), e.Err))
	}
	if len(counted) > allowed {
		for _, d := range counted {
			out = append(out, fmt.Sprintf("CONNECTION DISRUPTED: %s -> %s %s at %s: %s", d.Cell.Row, d.Cell.Col, d.Kind, d.At.Format("15:04:05.000"), d.Detail))
		}
		out = append(out, fmt.Sprintf("%d held-connection disruptions (budget %d)", len(counted), allowed))
	}
	return out
}
