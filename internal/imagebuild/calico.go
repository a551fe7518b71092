package imagebuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/netpol-e2e/harness/internal/versions"
)

// calicoBuild is one Calico build: where its source is, and what it is called.
type calicoBuild struct {
	version  string // image tag and the version string its binaries print
	upstream string // the release its manifest names (images renamed from these tags)
	src      string // source tree: node/filesystem and manifests/ are read from it
	bin      string // the binaries: calicoPackages', or combinedPackages' (combined)
	bpf      string // the BPF programs for /usr/lib/calico/bpf ("": none built, no eBPF mode)
	// combined: the v3.33 layout, one `calico` binary (cmd/calico) for every component:
	// calico/node runs its cgo build (bin/cgo/calico), calico/calico its static one.
	combined bool
}

// calicoPackages are the main packages of a Calico image set.
var calicoPackages = []string{
	"node/cmd/calico-node", "cni-plugin/cmd/calico", "cni-plugin/cmd/install",
	"kube-controllers/cmd/kube-controllers", "kube-controllers/cmd/check-status",
}

// The v3.33 line's main packages: the combined binary (cmd/calico, built twice as
// cmd/calico/Makefile builds it: with cgo and libbpf for calico/node, without for
// calico/calico) and node/cmd/mountns (cgo), which calico/node ships in /bin.
const (
	combinedPackage = "cmd/calico"
	mountnsPackage  = "node/cmd/mountns"
)

// calicoLDFlags sets the version strings the way Calico's Makefiles do: up to v3.30 in
// node/pkg/lifecycle/startup, node/buildinfo and each main package; from v3.31 in
// pkg/buildinfo (lib.Makefile's LDFLAGS), with the commit as GitRevision. Setting a
// variable that a release lacks is a no-op, so one set serves every release.
func calicoLDFlags(version, commit string) string {
	q := "github.com/projectcalico/calico/"
	flags := fmt.Sprintf("-s -w -X %snode/pkg/lifecycle/startup.VERSION=%s -X %snode/buildinfo.GitVersion=%s -X main.VERSION=%s -X %spkg/buildinfo.Version=%s",
		q, version, q, version, version, q, version)
	if commit != "" {
		flags += fmt.Sprintf(" -X %snode/buildinfo.GitRevision=%s -X %spkg/buildinfo.GitRevision=%s", q, commit, q, commit)
	}
	return flags
}

// CalicoBuildSource says where a Calico version string comes from: the served module
// (CalicoVersion, or CalicoVersion-SUFFIX: a second build of it for a restart-only
// rollout) or a pinned source archive (versions.CalicoSources). Anything else is an error.
func CalicoBuildSource(version string) (module bool, err error) {
	if version == versions.CalicoVersion || strings.HasPrefix(version, versions.CalicoVersion+"-") {
		return true, nil
	}
	if _, ok := versions.CalicoSource(version); ok {
		return false, nil
	}
	return false, fmt.Errorf("calico build %q: buildable here are %s (%s is the served module; %s-SUFFIX a second build of it)",
		version, strings.Join(versions.CalicoReleases(), ", "), versions.CalicoVersion, versions.CalicoVersion)
}

// calicoBinaries builds one version's binaries, from the module or from the archive.
func (b *Builder) calicoBinaries(ctx context.Context, moduleSrc, version string) (*calicoBuild, error) {
	module, err := CalicoBuildSource(version)
	if err != nil {
		return nil, err
	}
	stage := "calico-binaries-" + version
	if module {
		var pkgs []string
		for _, p := range calicoPackages {
			pkgs = append(pkgs, "github.com/projectcalico/calico/"+p)
		}
		b.logf("calico %s binaries (module): about 5 min on 2 cores when nothing is cached", version)
		bin, err := b.goBuild(ctx, stage, "calico", calicoLDFlags(version, ""), false, pkgs...)
		return &calicoBuild{version: version, upstream: versions.CalicoVersion, src: moduleSrc, bin: bin}, err
	}
	a, _ := versions.CalicoSource(version)
	src, err := b.sourceTree(ctx, a)
	if err != nil {
		return nil, err
	}
	key, err := b.key(stage, a.Commit, calicoLDFlags(version, a.Commit), "file:"+filepath.Join(src, "go.mod"), "cgo:"+fmt.Sprint(a.Libbpf != nil))
	if err != nil {
		return nil, err
	}
	b.logf("calico %s binaries (source archive, commit %s): about 8 min on 2 cores when nothing is cached", version, a.Commit[:12])
	comps, err := versions.CalicoComponents(version)
	if err != nil {
		return nil, err
	}
	combined := slices.Contains(comps, "calico")
	bin, err := b.dirStage(stage, key, func(out string) error {
		build := func(cgo, dir string, pkgs ...string) error {
			args := []string{"build", "-trimpath", "-ldflags", calicoLDFlags(version, a.Commit), "-o", dir + "/"}
			for _, p := range pkgs {
				args = append(args, "./"+p)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			// -mod=mod: a replace needs its go.sum lines written.
			return b.run(ctx, stage, src, []string{"CGO_ENABLED=" + cgo, "GOFLAGS=-mod=mod"}, nil, "go", args...)
		}
		switch {
		case combined:
			if err := build("1", filepath.Join(out, "cgo"), combinedPackage); err != nil {
				return err
			}
			if err := build("1", out, mountnsPackage); err != nil {
				return err
			}
			return build("0", out, combinedPackage)
		case a.Libbpf == nil:
			return build("0", out, calicoPackages...)
		}
		// calico-node with cgo, linking the pinned libbpf (as Calico's node/Makefile
		// builds it: libbpf static, libelf and zlib from the system); the rest without.
		if err := build("1", out, calicoPackages[0]); err != nil {
			return err
		}
		return build("0", out, calicoPackages[1:]...)
	})
	if err != nil {
		return nil, err
	}
	cb := &calicoBuild{version: version, upstream: a.Version, src: src, bin: bin, combined: combined}
	if a.Libbpf != nil && !combined { // the v3.33 line's BPF recipe differs (bpfTargets)
		cb.bpf, err = b.bpfPrograms(ctx, version, src, a)
	}
	return cb, err
}
