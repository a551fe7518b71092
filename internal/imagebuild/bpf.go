package imagebuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/netpol-e2e/harness/internal/versions"
)

// llvmSuites are the Debian suites that serve the LLVM releases Calico pins for its BPF
// programs (metadata.mk's LLVM_VERSION, or the llvmX of GO_BUILD_VER before it had one):
// v3.30 to v3.32 pin 18.1.8, Debian trixie's clang-18. The version matters: LLVM 19's code
// for the IPv6 ICMP replies fails this kernel's verifier ("R4 invalid zero-sized read",
// every *_v6.o), LLVM 18.1.8's passes it.
var llvmSuites = map[string]string{"18.1.8": "trixie"}

// bpfTargets are felix/Makefile's build-bpf recipe of v3.30 to v3.32, verbatim: the same
// make goals in the same two directories. (The v3.33 line's differs: it passes ARCH, which
// its bpf-gpl Makefile needs for the target defines, ships a bin/bpf selection, and pins
// LLVM 21.1.8; its programs are not built here.)
var bpfTargets = [][]string{
	{"bpf-apache", "all"},
	{"bpf-gpl", "all", "ut-objs", "map-objs"},
}

var (
	llvmVersionLine = regexp.MustCompile(`(?m)^LLVM_VERSION=(\S+)$`)
	goBuildLLVM     = regexp.MustCompile(`(?m)^GO_BUILD_VER=.*-llvm([0-9.]+)-`)
)

// CalicoLLVM is the LLVM release a Calico source tree's metadata.mk pins.
func CalicoLLVM(metadata string) (string, error) {
	for _, re := range []*regexp.Regexp{llvmVersionLine, goBuildLLVM} {
		if m := re.FindStringSubmatch(metadata); m != nil {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("metadata.mk pins no LLVM (neither LLVM_VERSION= nor GO_BUILD_VER=...-llvmX-)")
}

// bpfToolchain is the container Calico's BPF programs compile in, for one LLVM release:
// the Debian suite serving it (images/bpf-toolchain), checked to have exactly that clang.
func (b *Builder) bpfToolchain(ctx context.Context, llvm string) (string, error) {
	suite, ok := llvmSuites[llvm]
	if !ok {
		return "", fmt.Errorf("LLVM %s: no Debian suite known to serve it (known: %v)", llvm, llvmSuites)
	}
	major, _, _ := strings.Cut(llvm, ".")
	script := filepath.Join(b.Repo, "images", "bpf-toolchain", "build.sh")
	key, err := b.key("bpf-toolchain", suite, llvm, "file:"+script, "file:"+filepath.Join(b.Repo, "images", "debian.sh"))
	if err != nil {
		return "", err
	}
	stage := "bpf-toolchain-llvm-" + llvm
	b.logf("BPF toolchain (Debian %s, clang-%s): about 1 min when nothing is cached", suite, major)
	dir, err := b.dirStage(stage, key, func(out string) error {
		return b.run(ctx, stage, out, nil, nil, "bash", script, suite, major, filepath.Join(out, "rootfs.tar"))
	})
	if err != nil {
		return "", err
	}
	tag := versions.LocalRegistry + "/bpf-toolchain:llvm-" + llvm
	// Checked once, when the image is made from the stage: its clang is that LLVM release.
	// An image that fails the check is removed, so that a later build cannot find it
	// cached under the key.
	return tag, b.imageStage(ctx, stage+"-image", tag, key, func(string) error {
		if err := b.importRootfs(ctx, stage+"-image", dir, key, tag); err != nil {
			return err
		}
		have, err := output(ctx, "docker", "run", "--rm", tag, "clang-"+major, "--version")
		switch {
		case err != nil:
		case !strings.Contains(have, "version "+llvm):
			err = &StageError{
				Stage: stage, Command: "clang-" + major + " --version", Err: fmt.Errorf("the suite %s serves %q, Calico pins LLVM %s", suite, strings.TrimSpace(have), llvm),
				Hint: "the suite has moved on: name the suite that serves LLVM " + llvm + " in internal/imagebuild/bpf.go (llvmSuites)",
			}
		default:
			return nil
		}
		_ = b.docker(ctx, stage+"-image", "", nil, nil, "rmi", tag)
		return err
	})
}

// bpfPrograms compiles a release's BPF programs (felix/bpf-gpl and felix/bpf-apache, C
// for the BPF target) with its own Makefiles, in a container holding the LLVM release it
// pins (as Calico builds them in its go-build image), and returns a directory holding
// what node/Makefile copies into calico/node's /usr/lib/calico/bpf: both bin/ folders.
// The libbpf headers the programs include (<bpf/bpf_helpers.h>) are those of the libbpf
// the release pins, installed by libbpf's own `make install_headers` (go-build has them
// from its own libbpf build).
func (b *Builder) bpfPrograms(ctx context.Context, version, src string, a versions.SourceArchive) (string, error) {
	stage := "calico-bpf-" + version
	meta, err := os.ReadFile(filepath.Join(src, "metadata.mk"))
	if err != nil {
		return "", err
	}
	llvm, err := CalicoLLVM(string(meta))
	if err != nil {
		return "", fmt.Errorf("calico %s: %w", version, err)
	}
	toolchain, err := b.bpfToolchain(ctx, llvm)
	if err != nil {
		return "", fmt.Errorf("calico %s BPF programs: %w", version, err)
	}
	major, _, _ := strings.Cut(llvm, ".")
	parts := []string{stage, a.Commit, a.Libbpf.Commit, toolchain, imageKey(ctx, toolchain)}
	for _, t := range bpfTargets {
		parts = append(parts, strings.Join(t, " "))
	}
	key, err := b.key(parts...)
	if err != nil {
		return "", err
	}
	b.logf("calico %s BPF programs (LLVM %s): about 2 min on 2 cores", version, llvm)
	dir, err := b.dirStage(stage, key, func(out string) error {
		// The Makefiles write beside the sources: work on a copy, the source stage stays as unpacked.
		work := filepath.Join(out, "work")
		if err := os.MkdirAll(work, 0o755); err != nil {
			return err
		}
		for _, t := range bpfTargets {
			if err := b.run(ctx, stage, out, nil, nil, "cp", "-a", filepath.Join(src, "felix", t[0]), work+"/"); err != nil {
				return err
			}
		}
		// CFLAGS from the environment: the Makefiles append theirs (CFLAGS +=).
		script := []string{"set -e", "make -s -C bpf-gpl/libbpf/src install_headers DESTDIR=/work/libbpf-headers >/dev/null"}
		for _, t := range bpfTargets {
			script = append(script, fmt.Sprintf("CFLAGS=-I/work/libbpf-headers/usr/include make -j2 -C %s CC=clang-%s LD=llc-%s %s", t[0], major, major, strings.Join(t[1:], " ")))
		}
		if err := b.docker(ctx, stage, out, nil, nil, "run", "--rm", "-v", work+":/work", "-w", "/work", toolchain, "sh", "-c", strings.Join(script, "; ")); err != nil {
			return err
		}
		progs := filepath.Join(out, "bpf")
		for _, t := range bpfTargets {
			if err := copyTree(filepath.Join(work, t[0], "bin"), progs, func(string) bool { return false }); err != nil {
				return err
			}
		}
		return os.RemoveAll(work)
	})
	return filepath.Join(dir, "bpf"), err
}
