package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpol-e2e/harness/internal/versions"
)

// tagArchive is what `git archive` writes: a pax global header with the commit id, then
// the tree under a top folder.
func tagArchive(t *testing.T, commit string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	require.NoError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": commit}}))
	body := []byte("module github.com/projectcalico/calico\n")
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "calico-v9/go.mod", Mode: 0o644, Size: int64(len(body))}))
	_, err := tw.Write(body)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func pinned(data []byte, commit string) versions.SourceArchive {
	sum := sha256.Sum256(data)
	return versions.SourceArchive{Version: "v9", File: "calico-v9.tar.gz", Commit: commit, SHA256: hex.EncodeToString(sum[:])}
}

const commitA = "82fd18c202ac5400cd7760597a510de9d028b035"

func TestFindSourceLocalDirFirstThenCache(t *testing.T) {
	data := tagArchive(t, commitA)
	a := pinned(data, commitA)
	srcDir, cache := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(srcDir, a.File), data, 0o644))
	b := &Builder{Cache: cache, Sources: srcDir, Out: io.Discard}
	got, err := b.findSource(context.Background(), a)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(cache, "sources", a.File), got, "a verified copy is kept in the cache")
	// Later runs need neither the directory nor the URL.
	b.Sources = ""
	got, err = b.findSource(context.Background(), a)
	require.NoError(t, err)
	require.FileExists(t, got)
}

func TestFindSourceRefusesWrongChecksumOrCommit(t *testing.T) {
	data := tagArchive(t, commitA)
	srcDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(srcDir, "calico-v9.tar.gz"), data, 0o644))
	b := &Builder{Cache: t.TempDir(), Sources: srcDir, Out: io.Discard}

	wrongSum := pinned(data, commitA)
	wrongSum.SHA256 = "00"
	_, err := b.findSource(context.Background(), wrongSum)
	require.ErrorContains(t, err, "sha256")
	require.ErrorContains(t, err, "what to do: replace it")

	wrongCommit := pinned(data, "1111111111111111111111111111111111111111")
	_, err = b.findSource(context.Background(), wrongCommit)
	require.ErrorContains(t, err, `commit id "`+commitA+`" in its header, want 1111111111111111111111111111111111111111`)
}

// A missing archive is downloaded (here from a loopback server standing in for the forge)
// and judged by its commit id; one that cannot be fetched says where to put the file.
func TestFindSourceDownloadsWhenAbsent(t *testing.T) {
	data := tagArchive(t, commitA)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v9.tar.gz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	defer srv.Close()
	a := pinned(data, commitA)
	a.SHA256 = "a forge's own archive differs in bytes" // only the commit id is checked
	a.URL = srv.URL + "/v9.tar.gz"
	b := &Builder{Cache: t.TempDir(), Out: io.Discard}
	got, err := b.findSource(context.Background(), a)
	require.NoError(t, err)
	require.FileExists(t, got)

	a.URL = srv.URL + "/missing.tar.gz"
	b.Cache = t.TempDir()
	_, err = b.findSource(context.Background(), a)
	require.ErrorContains(t, err, "404")
	require.ErrorContains(t, err, "point NETPOL_SOURCES (or -sources) at it")
}

func TestCalicoBuildSource(t *testing.T) {
	for v, module := range map[string]bool{
		versions.CalicoVersion: true, versions.CalicoUpgradeBuild: true,
		"v3.29.7": false, "v3.30.7": false, "v3.31.7": false, "v3.32.1": false,
	} {
		got, err := CalicoBuildSource(v)
		require.NoError(t, err, v)
		require.Equal(t, module, got, v)
	}
	_, err := CalicoBuildSource("v3.30.0")
	require.ErrorContains(t, err, `calico build "v3.30.0": buildable here are v3.28.5, v3.29.7, v3.30.7, v3.31.7, v3.32.1`)
	require.Equal(t, "v3.32.1", versions.CalicoDefault)
	require.Contains(t, versions.CalicoReleases(), versions.CalicoUpgradeFrom)
}

// Every pinned archive, where the shared sources folder has it (CI's machines do), is the
// file its pin names: sha256 and the commit id in its header.
func TestPinnedCalicoArchivesVerify(t *testing.T) {
	dir := os.Getenv(SourcesEnv)
	if dir == "" {
		dir = "../../../shared/sources"
	}
	found := 0
	for _, a := range versions.CalicoSources {
		p := filepath.Join(dir, a.File)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		found++
		require.NoError(t, VerifyArchive(p, a, true), a.Version)
	}
	if found == 0 {
		t.Skipf("no archive of %v in %s", versions.CalicoReleases()[1:], dir)
	}
}

// The LLVM a Calico release pins, read as its metadata.mk says it (v3.31 on: LLVM_VERSION;
// v3.30: only in go-build's tag).
func TestCalicoLLVM(t *testing.T) {
	v, err := CalicoLLVM("GO_VERSION=1.24.13\nLLVM_VERSION=18.1.8\nGO_BUILD_VER=$(GO_VERSION)-llvm$(LLVM_VERSION)-k8s1.33\n")
	require.NoError(t, err)
	require.Equal(t, "18.1.8", v)
	v, err = CalicoLLVM("GO_BUILD_VER=1.24.13-llvm18.1.8-k8s1.32.13\n")
	require.NoError(t, err)
	require.Equal(t, "18.1.8", v)
	_, err = CalicoLLVM("GO_BUILD_VER=v0.91\n")
	require.ErrorContains(t, err, "pins no LLVM")
	for llvm := range llvmSuites {
		require.Regexp(t, `^[0-9]+\.[0-9]+\.[0-9]+$`, llvm)
	}
}
