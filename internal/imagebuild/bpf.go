package imagebuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/netpol-e2e/harness/internal/versions"
)

// BPF toolchain: Debian bookworm's clang and llc 19 (packages clang-19 and llvm-19, which
// scripts/bootstrap-host.sh installs). Calico's go-build image runs `clang` and `llc`;
// the Makefiles take CC and LD, so the versioned names are passed.
const (
	bpfCC = "clang-19"
	bpfLD = "llc-19"
)

// bpfTargets are felix/Makefile's build-bpf recipe, verbatim: the same make goals in the
// same two directories (v3.30 to the v3.33 line).
var bpfTargets = [][]string{
	{"bpf-apache", "all"},
	{"bpf-gpl", "all", "ut-objs", "map-objs"},
}

// bpfPrograms compiles a release's BPF programs (felix/bpf-gpl and felix/bpf-apache, C
// for the BPF target) with its own Makefiles and returns a directory holding what
// node/Makefile copies into calico/node's /usr/lib/calico/bpf: both bin/ folders. The
// libbpf headers the programs include (<bpf/bpf_helpers.h>) are those of the libbpf the
// release pins, installed by libbpf's own `make install_headers` (Calico's go-build image
// has them from its own libbpf build).
func (b *Builder) bpfPrograms(ctx context.Context, version, src string, a versions.SourceArchive) (string, error) {
	stage := "calico-bpf-" + version
	cc, err := output(ctx, bpfCC, "--version")
	if err != nil {
		return "", &StageError{Stage: stage, Command: bpfCC + " --version", Err: err, Hint: "calico " + version + "'s BPF programs need clang-19 and llvm-19: run scripts/bootstrap-host.sh"}
	}
	ld, err := output(ctx, bpfLD, "--version")
	if err != nil {
		return "", &StageError{Stage: stage, Command: bpfLD + " --version", Err: err, Hint: "run scripts/bootstrap-host.sh (it installs llvm-19)"}
	}
	parts := []string{stage, a.Commit, a.Libbpf.Commit, versionLine(cc), versionLine(ld)}
	for _, t := range bpfTargets {
		parts = append(parts, strings.Join(t, " "))
	}
	key, err := b.key(parts...)
	if err != nil {
		return "", err
	}
	b.logf("calico %s BPF programs: about 2 min on 2 cores", version)
	dir, err := b.dirStage(stage, key, func(out string) error {
		// The Makefiles write beside the sources: work on a copy, the source stage stays as unpacked.
		work := filepath.Join(out, "work")
		if err := os.MkdirAll(work, 0o755); err != nil {
			return err
		}
		for _, d := range []string{"bpf-gpl", "bpf-apache"} {
			if err := b.run(ctx, stage, out, nil, nil, "cp", "-a", filepath.Join(src, "felix", d), work+"/"); err != nil {
				return err
			}
		}
		headers := filepath.Join(out, "libbpf-headers")
		if err := b.run(ctx, stage, filepath.Join(work, "bpf-gpl", "libbpf", "src"), nil, nil, "make", "install_headers", "DESTDIR="+headers); err != nil {
			return err
		}
		// CFLAGS from the environment: the Makefiles append theirs (CFLAGS +=).
		env := []string{"CFLAGS=-I" + filepath.Join(headers, "usr", "include")}
		for _, t := range bpfTargets {
			args := append([]string{"-j2", "-C", filepath.Join(work, t[0]), "CC=" + bpfCC, "LD=" + bpfLD}, t[1:]...)
			if err := b.run(ctx, stage, out, env, nil, "make", args...); err != nil {
				return err
			}
		}
		progs := filepath.Join(out, "bpf")
		for _, d := range []string{"bpf-gpl", "bpf-apache"} {
			if err := copyTree(filepath.Join(work, d, "bin"), progs, func(string) bool { return false }); err != nil {
				return err
			}
		}
		return os.RemoveAll(work)
	})
	return filepath.Join(dir, "bpf"), err
}

// versionLine is a tool's --version line that names its version (llc's output also names
// the host CPU, which must not enter a cache key).
func versionLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "version") {
			return strings.TrimSpace(l)
		}
	}
	return out
}
