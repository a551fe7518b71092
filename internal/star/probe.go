package star

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/netpol-e2e/harness/internal/matrix"
)

// Reach is the last known state of one URL, as /status reports it.
type Reach struct {
	URL         string         `json:"url"`
	Reachable   bool           `json:"reachable"`
	Verdict     matrix.Verdict `json:"verdict"`
	LastChecked time.Time      `json:"lastChecked"`
}

// Status is the JSON served at /status.
type Status struct {
	Name    string  `json:"name"`
	Mode    string  `json:"mode"`
	Reaches []Reach `json:"reaches"`
}

// Prober polls its URLs on an interval and remembers the last result of each.
type Prober struct {
	Name     string
	URLs     []string
	Interval time.Duration
	Timeout  time.Duration

	mu      sync.Mutex
	reaches []Reach
}

// Run polls until ctx ends.
func (p *Prober) Run(ctx context.Context) { every(ctx, p.Interval, p.pollOnce) }

// every calls fn at once and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Prober) pollOnce(ctx context.Context) {
	rs := Check(ctx, p.URLs, p.Timeout)
	now := time.Now().UTC()
	reaches := make([]Reach, len(rs))
	for i, r := range rs {
		reaches[i] = Reach{URL: r.URL, Reachable: r.Verdict == matrix.Allowed, Verdict: r.Verdict, LastChecked: now}
	}
	p.mu.Lock()
	p.reaches = reaches
	p.mu.Unlock()
}

// Status returns a snapshot.
func (p *Prober) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Status{Name: p.Name, Mode: "probe", Reaches: append([]Reach(nil), p.reaches...)}
}

// Handler serves /status and /healthz.
func (p *Prober) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, p.Status()) })
	mux.HandleFunc("GET /healthz", healthz)
	return mux
}

func healthz(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("write json: %v", err)
	}
}

// Serve runs an HTTP server on addr until ctx ends. A value on restart restarts it: the
// listener and every open connection are closed, then it listens again (SIGHUP; `star
// restart-server` sends it, which is how the harness cuts a held connection on purpose).
func Serve(ctx context.Context, addr string, h http.Handler, restart <-chan os.Signal) error {
	for {
		srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
		done := make(chan struct{})
		go func() {
			defer close(done)
			select {
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
			case <-restart:
				// A server restart, as a redeploy does it: every open connection is cut.
				_ = srv.Close()
			}
		}()
		err := srv.ListenAndServe()
		<-done
		if err != nil && err != http.ErrServerClosed {
			return err
		}
		select {
		case <-ctx.Done():
			return nil // shut down
		default: // restarted: listen again
		}
	}
}
