package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// Edge is one arrow the page drew: app From reaches app To.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func (e Edge) String() string { return e.From + "->" + e.To }

// Page is what the browser showed.
type Page struct {
	Edges []Edge `json:"edges"`
	// Nodes are the apps drawn; Unseen those drawn as not answering.
	Nodes  []string `json:"nodes"`
	Unseen []string `json:"unseen"`
	// Meta is the page's header line ("5 apps, 12 flows, updated ...").
	Meta string `json:"meta"`
	// Version is the UI version the page shows.
	Version    string `json:"version"`
	Screenshot []byte `json:"-"`
}

// Executable finds Chromium: $NETPOL_CHROMIUM, else chromium or chromium-browser on PATH.
func Executable(env string) (string, error) {
	if env != "" {
		return env, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found: install Debian's chromium (scripts/bootstrap-host.sh does) or set NETPOL_CHROMIUM")
}

// Options for Open.
type Options struct {
	// Exec is the browser binary.
	Exec string
	// Timeout bounds the whole visit.
	Timeout time.Duration
	// Ready says when the page shows what is awaited; Open polls the page until it does or
	// the timeout passes, and returns the last page either way.
	Ready func(Page) bool
}

// readScript reads the drawn graph out of the page's SVG.
const readScript = `JSON.stringify({
  edges: [...document.querySelectorAll('#edges line.edge')].map(e => ({from: e.dataset.from, to: e.dataset.to})),
  nodes: [...document.querySelectorAll('#nodes g.node')].map(n => n.dataset.name),
  unseen: [...document.querySelectorAll('#nodes g.node')].filter(n => n.dataset.seen !== 'true').map(n => n.dataset.name),
  meta: (document.getElementById('meta') || {}).textContent || '',
  version: ((document.getElementById('version') || {}).textContent || '').replace(/[()]/g, '')
})`

// Open loads pageURL headless and returns what it drew, once Ready (or at the timeout,
// with an error), with a screenshot of the whole page.
func Open(ctx context.Context, pageURL string, o Options) (*Page, error) {
	u, err := url.Parse(pageURL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("bad page URL %q", pageURL)
	}
	// The browser lives a little longer than the wait, for the screenshot.
	life, cancel := context.WithTimeout(ctx, o.Timeout+30*time.Second)
	defer cancel()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(o.Exec),
		chromedp.NoSandbox, // root in CI; the page is our own
		chromedp.DisableGPU,
		chromedp.WindowSize(760, 700),
		// Reach nothing but the page: no host name resolves, no update or metrics pings.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE "+u.Hostname()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("disable-domain-reliability", true),
	)
	actx, acancel := chromedp.NewExecAllocator(life, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// Start the browser on its own context: the first run binds the browser's lifetime.
	if err := chromedp.Do(bctx); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Exec, err)
	}
	ctx, wcancel := context.WithTimeout(bctx, o.Timeout)
	defer wcancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(pageURL), chromedp.WaitReady(chromedp.CSS("#graph"))); err != nil {
		return nil, fmt.Errorf("open %s in %s: %w", pageURL, o.Exec, err)
	}
	var page Page
	for {
		raw, rerr := chromedp.Run(ctx, chromedp.Evaluate[string](readScript))
		if rerr == nil {
			page = Page{}
			rerr = json.Unmarshal([]byte(raw), &page)
		}
		if rerr != nil {
			return nil, fmt.Errorf("read the graph of %s: %w", pageURL, rerr)
		}
		if (o.Ready == nil && len(page.Nodes) > 0) || (o.Ready != nil && o.Ready(page)) {
			break
		}
		select {
		case <-ctx.Done():
			err = fmt.Errorf("%s did not show what was expected within %s (last: %s)", pageURL, o.Timeout, page.Describe())
		case <-time.After(500 * time.Millisecond):
			continue
		}
		break
	}
	// The screenshot gets its own budget: it is wanted most when the check failed.
	sctx, scancel := context.WithTimeout(bctx, 20*time.Second)
	defer scancel()
	shot, serr := chromedp.Run(sctx, chromedp.FullScreenshot(100)) // 100: lossless PNG
	page.Screenshot = shot
	if serr != nil && err == nil {
		err = fmt.Errorf("screenshot of %s: %w", pageURL, serr)
	}
	return &page, err
}

// Describe says what the page showed, in one line.
func (p Page) Describe() string {
	var es []string
	for _, e := range p.Edges {
		es = append(es, e.String())
	}
	slices.Sort(es)
	return fmt.Sprintf("%d apps %v (not answering: %v), %d arrows [%s], header %q", len(p.Nodes), p.Nodes, p.Unseen, len(p.Edges), strings.Join(es, " "), p.Meta)
}

// EdgeList is edges as sorted "from->to" words, one space apart.
func EdgeList(es []Edge) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.String()
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}
