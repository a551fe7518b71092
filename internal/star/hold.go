package star

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"syscall"
	"time"
)

// HoldEvent is one line of `star check --hold`: what happened to one long-lived
// connection. The harness reads these (internal/rollout); this type is the protocol.
type HoldEvent struct {
	Target string `json:"target"`
	// Event: "open" (connected, the first time or again), "disrupted" (Kind says how),
	// "stats" (every second and at the end: the counters so far).
	Event string `json:"event"`
	// Kind of a disruption: "reset" (ECONNRESET), "closed" (the peer closed), "late" (no
	// reply within the budget; the reply may still come), "error" (anything else, such as
	// a failed reconnect).
	Kind   string `json:"kind,omitempty"`
	At     int64  `json:"at"` // Unix milliseconds
	Detail string `json:"detail,omitempty"`
	// Counters, on stats lines: exchanges completed, the longest time between two
	// replies (or from opening to the first), and reconnects.
	Exchanges  int   `json:"exchanges,omitempty"`
	WorstGapMs int64 `json:"worstGapMs,omitempty"`
	Reconnects int   `json:"reconnects,omitempty"`
}

// Hold keeps one HTTP/1.1 connection open to every target (http://host:port/path) and
// exchanges a request and its reply on it every interval, the way an application keeps a
// pooled connection busy. A reset, a close or a reply later than budget is printed as a
// disruption (then the connection is opened again); a stats line per target comes every
// second and once more at the end. It runs until ctx ends.
func (c Checker) Hold(ctx context.Context, targets []string, interval, budget time.Duration, w io.Writer) error {
	if len(targets) == 0 {
		return errors.New("check --hold needs at least one target")
	}
	if interval <= 0 || budget <= 0 {
		return errors.New("--hold needs an interval > 0 and --reply-budget > 0")
	}
	if c.DNSTimeout <= 0 {
		c.DNSTimeout = DefaultDNSTimeout
	}
	urls := make([]*url.URL, len(targets))
	families := make([]string, len(targets))
	for i, t := range targets {
		u, family, err := parseTarget(t)
		if err != nil || u.Scheme != "http" {
			return fmt.Errorf("--hold target %q: want http://host:port/path (or http+ipv6://)", t)
		}
		urls[i], families[i] = u, family
	}
	return perTarget(targets, w, func(t string, emit func(any)) {
		i := slices.Index(targets, t)
		c.holdOne(ctx, urls[i], families[i], t, interval, budget, func(e HoldEvent) { emit(e) })
	})
}

// holdState is one target's counters.
type holdState struct {
	exchanges, reconnects int
	worstGap              time.Duration
	lastReply             time.Time
}

func (c Checker) holdOne(ctx context.Context, u *url.URL, family, target string, interval, budget time.Duration, emit func(HoldEvent)) {
	now := func() int64 { return time.Now().UnixMilli() }
	var st holdState
	stats := func() {
		emit(HoldEvent{Target: target, Event: "stats", At: now(), Exchanges: st.exchanges, WorstGapMs: st.worstGap.Milliseconds(), Reconnects: st.reconnects})
	}
	defer stats()
	lastStats := time.Now()
	addr := ""
	opened := false
	for ctx.Err() == nil {
		if addr == "" {
			var detail string
			if addr, _, detail = c.resolve(ctx, u.Host, family); addr == "" {
				emit(HoldEvent{Target: target, Event: "disrupted", Kind: "error", At: now(), Detail: detail})
				sleepCtx(ctx, interval)
				continue
			}
		}
		dctx, cancel := context.WithTimeout(ctx, budget)
		conn, _, detail := dial(dctx, addr)
		cancel()
		if conn == nil {
			if ctx.Err() == nil {
				emit(HoldEvent{Target: target, Event: "disrupted", Kind: "error", At: now(), Detail: "reconnect: " + detail})
				sleepCtx(ctx, interval)
			}
			continue
		}
		if opened {
			st.reconnects++
		}
		opened = true
		st.lastReply = time.Now() // the gap to the first reply counts from the open
		emit(HoldEvent{Target: target, Event: "open", At: now(), Detail: conn.LocalAddr().String() + " -> " + addr})
		c.exchange(ctx, conn, u, interval, budget, &st, func(kind, detail string) {
			emit(HoldEvent{Target: target, Event: "disrupted", Kind: kind, At: now(), Detail: detail})
		}, func() {
			if time.Since(lastStats) >= time.Second {
				stats()
				lastStats = time.Now()
			}
		})
		conn.Close()
		sleepCtx(ctx, interval)
	}
}

// exchange sends a request every interval on conn and reads its reply, until the
// connection breaks or ctx ends. A reply later than budget is reported once as late,
// and then waited for (a slow peer is not a broken connection).
func (c Checker) exchange(ctx context.Context, conn net.Conn, u *url.URL, interval, budget time.Duration, st *holdState, disrupted func(kind, detail string), tick func()) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReader(conn)
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: star-hold\r\n\r\n", u.RequestURI(), u.Host)
	for ctx.Err() == nil {
		sent := time.Now()
		_ = conn.SetWriteDeadline(sent.Add(budget))
		if _, err := io.WriteString(conn, req); err != nil {
			if ctx.Err() == nil {
				disrupted(classify(err), "send: "+err.Error())
			}
			return
		}
		_ = conn.SetReadDeadline(sent.Add(budget))
		resp, err := http.ReadResponse(br, nil)
		if isTimeout(err) && ctx.Err() == nil {
			disrupted("late", fmt.Sprintf("no reply within %s", budget))
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err = http.ReadResponse(br, nil)
		}
		if err != nil {
			if ctx.Err() == nil {
				disrupted(classify(err), "read reply: "+err.Error())
			}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got := time.Now()
		if resp.StatusCode != http.StatusOK {
			disrupted("error", "reply "+resp.Status)
		}
		st.exchanges++
		st.worstGap = max(st.worstGap, got.Sub(st.lastReply))
		st.lastReply = got
		tick()
		sleepCtx(ctx, time.Until(sent.Add(interval)))
	}
}

// classify names how a connection broke.
func classify(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed"
	case isTimeout(err):
		return "late"
	}
	return "error"
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
