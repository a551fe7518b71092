package httpget

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			_, _ = w.Write([]byte("body"))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	b, err := Read(context.Background(), srv.URL+"/ok")
	require.NoError(t, err)
	require.Equal(t, "body", string(b))
	_, err = Read(context.Background(), srv.URL+"/gone")
	require.EqualError(t, err, "GET "+srv.URL+"/gone: 404 Not Found")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Read(ctx, srv.URL+"/ok")
	require.ErrorIs(t, err, context.Canceled)
}
