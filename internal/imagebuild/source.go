package imagebuild

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/netpol-e2e/harness/internal/httpget"
	"github.com/netpol-e2e/harness/internal/versions"
)

// SourcesEnv names the local sources directory (like Buildroot's download dir): archives
// are looked up there first, then in the cache, and downloaded only where absent.
const SourcesEnv = "NETPOL_SOURCES"

// findSource returns a verified local copy of an archive: from b.Sources, else from the
// cache's sources/ directory, else downloaded from its URL into the cache. Every copy is
// checked (commit id always; sha256 for the file as distributed) before it is used, and a
// verified copy is kept in the cache so later runs need neither the directory nor the URL.
func (b *Builder) findSource(ctx context.Context, a versions.SourceArchive) (string, error) {
	cached := filepath.Join(b.Cache, "sources", a.File)
	var tried []string
	for _, dir := range []string{b.Sources, filepath.Dir(cached)} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, a.File)
		tried = append(tried, p)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := VerifyArchive(p, a, true); err != nil {
			return "", &StageError{
				Stage: "source " + a.File, Command: "verify " + p, Err: err,
				Hint: "replace it with the archive named in internal/versions/versions.go (commit " + a.Commit + ")",
			}
		}
		if p != cached {
			_ = os.Remove(cached) // a read-only copy from an earlier run
			if err := copyFile(p, cached, 0o644); err != nil {
				return "", err
			}
		}
		return cached, nil
	}
	b.logf("%s: not in %v, downloading %s", a.File, tried, a.URL)
	if err := download(ctx, a.URL, cached+".part"); err != nil {
		return "", &StageError{
			Stage: "source " + a.File, Command: "download " + a.URL, Err: err,
			Hint: fmt.Sprintf("put %s (commit %s, sha256 %s) in a directory and point %s (or -sources) at it", a.File, a.Commit, a.SHA256, SourcesEnv),
		}
	}
	// A tag archive made by the forge has its own compression and top folder: the commit
	// id, not the file's checksum, says it is the release.
	if err := VerifyArchive(cached+".part", a, false); err != nil {
		return "", &StageError{Stage: "source " + a.File, Command: "verify download of " + a.URL, Err: err}
	}
	return cached, os.Rename(cached+".part", cached)
}

// VerifyArchive checks a tag archive's commit id (its pax global header, as
// `git get-tar-commit-id` reads it) and, when checkSum is set, its sha256.
func VerifyArchive(path string, a versions.SourceArchive, checkSum bool) error {
	if checkSum {
		sum, err := fileSHA256(path)
		if err != nil {
			return err
		}
		if sum != a.SHA256 {
			return fmt.Errorf("%s: sha256 %s, want %s", path, sum, a.SHA256)
		}
	}
	commit, err := archiveCommit(path)
	if err != nil {
		return err
	}
	if commit != a.Commit {
		return fmt.Errorf("%s: commit id %q in its header, want %s (%s)", path, commit, a.Commit, a.Version)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// archiveCommit reads the commit id git archive writes as the first (global) header.
func archiveCommit(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("%s: not a gzip'd tar: %w", path, err)
	}
	hdr, err := tar.NewReader(zr).Next()
	if err != nil {
		return "", fmt.Errorf("%s: not a tar: %w", path, err)
	}
	if hdr.Typeflag != tar.TypeXGlobalHeader || hdr.PAXRecords["comment"] == "" {
		return "", fmt.Errorf("%s: no commit id in its header (not made by git archive)", path)
	}
	return hdr.PAXRecords["comment"], nil
}

func download(ctx context.Context, url, dst string) error {
	body, err := httpget.Open(ctx, url)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sourceTree unpacks a verified archive into the cache (once per commit) and applies the
// replaces the Go module proxy forces (a.Replace).
func (b *Builder) sourceTree(ctx context.Context, a versions.SourceArchive) (string, error) {
	archive, err := b.findSource(ctx, a)
	if err != nil {
		return "", err
	}
	stage := "source-calico-" + a.Version
	parts := append([]string{stage, a.Commit}, a.Replace...)
	var libbpf string
	if a.Libbpf != nil {
		if libbpf, err = b.findSource(ctx, *a.Libbpf); err != nil {
			return "", err
		}
		parts = append(parts, "libbpf", a.Libbpf.Commit)
	}
	// From the v3.33 line, felix/Makefile builds libbpf.a with -fPIC: the combined binary
	// can load plugins, so Go links it as dynamically linked code (-z nocopyreloc), which
	// position-dependent objects cannot join ("recompile with -fPIE", seen here).
	make := []string{"make", "-j2", "BUILD_STATIC_ONLY=1", "OBJDIR=amd64"}
	if comps, _ := versions.CalicoComponents(a.Version); slices.Contains(comps, "calico") {
		make = append(make, "EXTRA_CFLAGS=-fPIC")
		parts = append(parts, "fPIC")
	}
	key, err := b.key(parts...)
	if err != nil {
		return "", err
	}
	return b.dirStage(stage, key, func(out string) error {
		if err := b.run(ctx, stage, out, nil, nil, "tar", "-xzf", archive, "--strip-components=1"); err != nil {
			return err
		}
		for _, r := range a.Replace {
			if err := b.run(ctx, stage, out, nil, nil, "go", "mod", "edit", "-replace", r); err != nil {
				return err
			}
		}
		if libbpf == "" {
			return nil
		}
		// libbpf where Calico's build clones it (felix/bpf-gpl/libbpf), built as its
		// Makefile builds it: a static libbpf.a in src/amd64, which calico-node's cgo
		// directives link.
		dir := filepath.Join(out, "felix", "bpf-gpl", "libbpf")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := b.run(ctx, stage, dir, nil, nil, "tar", "-xzf", libbpf, "--strip-components=1"); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, "src", "amd64"), 0o755); err != nil { // as Calico's Makefile does first
			return err
		}
		return b.run(ctx, stage, filepath.Join(dir, "src"), nil, nil, make[0], make[1:]...)
	})
}
