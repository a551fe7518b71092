// Package httpget is the one HTTP GET of this project's downloads and readiness checks: a
// request bound to a context whose answer must be 200 OK.
package httpget

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Open GETs url and returns the body of a 200 answer (the caller closes it); any other
// status is an error naming the URL and the status.
func Open(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// Read GETs url and returns the whole body of a 200 answer.
func Read(ctx context.Context, url string) ([]byte, error) {
	body, err := Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(body)
}
