package mirror

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

// Files serves local files on the loopback at URL paths chosen by the caller (a release
// manifest at the path its upstream host publishes it under), so a download is rehearsed
// through the same code that fetches it from the internet.
type Files struct {
	// URL is http://127.0.0.1:PORT, the base of every served path.
	URL string
	srv *http.Server
}

// ServeFiles serves each URL path (beginning with /) from its file. Every file must exist
// now: a missing one is an error here, not a 404 minutes later.
func ServeFiles(files map[string]string) (*Files, error) {
	var missing []string
	for p, f := range files {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("mirror: served path %q must begin with /", p)
		}
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, fmt.Sprintf("%s (for %s): %v", f, p, err))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("mirror: files to serve are missing (run `make images`): %s", strings.Join(missing, "; "))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fs := &Files{URL: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	for p, f := range files {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, f) })
	}
	fs.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := fs.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "mirror: file server: %v\n", err)
		}
	}()
	return fs, nil
}

// Close stops the server.
func (f *Files) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f.srv.Shutdown(ctx)
}
