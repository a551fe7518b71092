package mirror

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeEngine puts a docker on PATH that answers `inspect` with the given container state
// ("" = no such container), knows the registry image as sha256:new, and logs every call.
func fakeEngine(t *testing.T, inspect string) (logFile string) {
	t.Helper()
	dir := t.TempDir()
	logFile = filepath.Join(dir, "calls")
	script := `#!/bin/sh
echo "$*" >> ` + logFile + `
case "$1 $2" in
  "image inspect") echo sha256:new ;;
  "inspect -f")
    if [ -z "$FAKE_STATE" ]; then echo "Error: No such object: netpol-e2e-registry" >&2; exit 1; fi
    echo "$FAKE_STATE" ;;
esac
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_STATE", inspect)
	return logFile
}

// answering serves the registry API root on a loopback port and returns the port.
func answering(t *testing.T) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	_, p, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return port
}

func calls(t *testing.T, logFile string) []string {
	t.Helper()
	b, err := os.ReadFile(logFile)
	require.NoError(t, err)
	var verbs []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		verbs = append(verbs, strings.Fields(l)[0])
	}
	return verbs
}

func TestRegistryUpReusesReplacesOrCreates(t *testing.T) {
	port := answering(t)
	bind := "127.0.0.1:" + strconv.Itoa(port)
	for _, tc := range []struct {
		name, state, said string
		verbs             []string
	}{
		{"none yet", "", "created", []string{"image", "inspect", "run"}},
		{"running, current", "true|sha256:new|kind |" + bind, "reused (running)", []string{"image", "inspect"}},
		{"stopped, current", "false|sha256:new|kind |" + bind, "reused (started)", []string{"image", "inspect", "start"}},
		{"another build", "true|sha256:old|kind |" + bind, "replaced", []string{"image", "inspect", "rm", "run"}},
		{"another port", "true|sha256:new|kind |127.0.0.1:1", "replaced", []string{"image", "inspect", "rm", "run"}},
		{"off the network", "true|sha256:new|bridge |" + bind, "replaced", []string{"image", "inspect", "rm", "run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := fakeEngine(t, tc.state)
			r := &Registry{Container: "netpol-e2e-registry", Volume: "vol", Image: "reg:1", Network: "kind", HostPort: port}
			said, err := r.Up(context.Background())
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(said, tc.said), said)
			require.Contains(t, said, "(volume vol)", "the volume is kept whatever happens to the container")
			require.Equal(t, tc.verbs, calls(t, log))
		})
	}
}

func TestRegistryUpSaysWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\necho 'Error: No such image: reg:1' >&2\nexit 1\n"), 0o755))
	t.Setenv("PATH", dir)
	_, err := (&Registry{Container: "c", Image: "reg:1", HostPort: 1}).Up(context.Background())
	require.ErrorContains(t, err, "registry image reg:1 is missing")
	require.ErrorContains(t, err, "run `make images`")
}
