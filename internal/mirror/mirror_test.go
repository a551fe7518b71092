package mirror

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"
)

// hostsFile is the part of containerd's hosts.toml schema the mirror writes.
type hostsFile struct {
	Server string `toml:"server"`
	Host   map[string]struct {
		Capabilities []string `toml:"capabilities"`
	} `toml:"host"`
}

func decodeHosts(t *testing.T, s string) hostsFile {
	t.Helper()
	var h hostsFile
	md, err := toml.Decode(s, &h)
	require.NoError(t, err, s)
	require.Empty(t, md.Undecoded(), "keys outside the schema")
	return h
}

func TestHostsTOML(t *testing.T) {
	const url = "http://netpol-e2e-registry:5000"
	// No fallback: the mirror is docker.io's only server; a name it lacks fails to pull.
	s, err := HostsTOML("docker.io", url, NoFallback)
	require.NoError(t, err)
	h := decodeHosts(t, s)
	require.Equal(t, url, h.Server)
	require.Empty(t, h.Host, "no other host to try")

	// With fallback: the mirror first for pulls, then Docker Hub.
	s, err = HostsTOML("docker.io", url, UpstreamFallback)
	require.NoError(t, err)
	h = decodeHosts(t, s)
	require.Equal(t, "https://registry-1.docker.io", h.Server)
	require.Equal(t, []string{"pull", "resolve"}, h.Host[url].Capabilities)

	_, err = HostsTOML("ghcr.io", url, NoFallback)
	require.ErrorContains(t, err, `no upstream server known for registry "ghcr.io"`)
	_, err = HostsTOML("docker.io", "netpol-e2e-registry:5000", NoFallback)
	require.ErrorContains(t, err, "is not an http(s) URL")
	require.Equal(t, "/etc/containerd/certs.d/docker.io/hosts.toml", HostsPath("docker.io"))
	s, err = HostsTOML("quay.io", url, UpstreamFallback)
	require.NoError(t, err)
	require.Equal(t, "https://quay.io", decodeHosts(t, s).Server, "quay.io names (Calico from v3.31) fall back to quay.io itself")
	require.Contains(t, ContainerdPatch, `config_path = "/etc/containerd/certs.d"`)
}

func TestRepoPath(t *testing.T) {
	for ref, want := range map[string]string{
		"docker.io/calico/node:v3.29.7":                "calico/node:v3.29.7",
		"quay.io/calico/node:v3.32.1":                  "calico/node:v3.32.1", // Calico from v3.31
		"calico/node:v3.29.7":                          "calico/node:v3.29.7",
		"netpol-e2e/star:0.1.0":                        "netpol-e2e/star:0.1.0",
		"busybox:1":                                    "library/busybox:1",
		"registry.k8s.io/e2e-test-images/agnhost:2.45": "e2e-test-images/agnhost:2.45",
	} {
		got, err := RepoPath(ref)
		require.NoError(t, err, ref)
		require.Equal(t, want, got, ref)
	}
	for _, ref := range []string{"ghcr.io/tigera/operator:v1", "localhost:5000/x:1", "netpol-e2e.local/calico/node:v3.28.5"} {
		_, err := RepoPath(ref)
		require.ErrorContains(t, err, "which the local registry does not mirror (it mirrors docker.io, quay.io, registry.k8s.io)", ref)
	}
}

func TestParsePush(t *testing.T) {
	out := `The push refers to repository [127.0.0.1:5005/calico/node]
5f70bf18a086: Layer already exists
a1b2c3d4e5f6: Pushed
0123456789ab: Pushed
v3.29.7: digest: sha256:0b5d5e3bcbbbc3f1a2d9d8c1c0d7a7e6c2b0f5b7f0e4c8e3a6f5d4c3b2a19080 size: 1782`
	p, err := parsePush(out)
	require.NoError(t, err)
	require.Equal(t, Pushed{Digest: "sha256:0b5d5e3bcbbbc3f1a2d9d8c1c0d7a7e6c2b0f5b7f0e4c8e3a6f5d4c3b2a19080", Uploaded: 2, Present: 1}, p)
	_, err = parsePush("The push refers to repository [x]\nerror")
	require.ErrorContains(t, err, "no digest in docker push output")
}

func TestParseState(t *testing.T) {
	st, err := parseState("true|sha256:abc|bridge kind |127.0.0.1:5005")
	require.NoError(t, err)
	require.Equal(t, state{running: true, image: "sha256:abc", networks: []string{"bridge", "kind"}, binding: "127.0.0.1:5005"}, st)
	_, err = parseState("true|x")
	require.ErrorContains(t, err, "unexpected docker inspect output")
}

func TestServeFiles(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "calico-vxlan.yaml")
	require.NoError(t, os.WriteFile(f, []byte("kind: List\n"), 0o644))
	const path = "/projectcalico/calico/v3.29.7/manifests/calico-vxlan.yaml"
	srv, err := ServeFiles(map[string]string{path: f})
	require.NoError(t, err)
	defer srv.Close()
	get := func(p string) (int, string) {
		resp, err := http.Get(srv.URL + p)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get(path)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "kind: List\n", body, "served unchanged")
	code, _ = get("/projectcalico/calico/v3.28.5/manifests/calico-vxlan.yaml")
	require.Equal(t, http.StatusNotFound, code, "only what was asked to be served")

	_, err = ServeFiles(map[string]string{path: filepath.Join(dir, "missing.yaml")})
	require.ErrorContains(t, err, "files to serve are missing (run `make images`)")
	_, err = ServeFiles(map[string]string{"relative": f})
	require.ErrorContains(t, err, "must begin with /")
}
