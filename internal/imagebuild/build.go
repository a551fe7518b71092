package imagebuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/netpol-e2e/harness/internal/docker"
	"github.com/netpol-e2e/harness/internal/versions"
)

// minFreeGiB is what a cold build needs in the cache and Docker's directories.
const minFreeGiB = 15

// Result says what a build produced.
type Result struct {
	NodeImage       string
	StarImage       string
	RegistryImage   string
	CalicoManifests map[string]string // version -> path
	CalicoImages    map[string]map[string]string
	Built           []string // stages that were (re)built, empty when everything was cached
	Elapsed         time.Duration
}

// Build runs every stage in order:
func (b *Builder) Build(ctx context.Context) (*Result, error) {
	b.start = time.Now()
	if len(b.CalicoBuilds) == 0 {
		b.CalicoBuilds = []string{versions.CalicoVersion}
	}
	for _, v := range b.CalicoBuilds {
		if _, err := CalicoBuildSource(v); err != nil {
			return nil, err
		}
	}
	b.logf("versions: %s", versions.Summary())
	b.logf("cache: %s", b.Cache)
	// Preflight: a Docker engine, the tools, and room on disk, before any long stage.
	if err := b.preflight(ctx); err != nil {
		return nil, err
	}
	if b.UpstreamOnly {
		if err := b.suiteImages(ctx); err != nil {
			return nil, err
		}
		return &Result{StarImage: versions.StarImage(), RegistryImage: versions.RegistryImage(), Built: b.built, Elapsed: time.Since(b.start)}, nil
	}
	// Go binaries from the Go module proxy, each in its own build module.
	bins, err := b.buildBinaries(ctx)
	if err != nil {
		return nil, err
	}
	// The Debian root filesystem shared by the node, kube-proxy and calico-node.
	rootfs, err := b.rootfsImage(ctx)
	if err != nil {
		return nil, err
	}
	// The control-plane images under the names kubeadm asks for.
	if err := b.controlPlaneImages(ctx, bins, rootfs); err != nil {
		return nil, err
	}
	// Calico's images and its manifest adapted for kind, per build.
	res := &Result{CalicoManifests: map[string]string{}, CalicoImages: map[string]map[string]string{}}
	src, err := b.moduleDir(ctx, "github.com/projectcalico/calico", versions.CalicoModule)
	if err != nil {
		return nil, err
	}
	for _, v := range b.CalicoBuilds {
		cb, err := b.calicoBinaries(ctx, src, v)
		if err != nil {
			return nil, err
		}
		if err := b.calicoImages(ctx, bins, rootfs, cb); err != nil {
			return nil, err
		}
		if res.CalicoManifests[v], err = b.calicoManifest(cb); err != nil {
			return nil, err
		}
		res.CalicoImages[v] = versions.CalicoImages(v)
	}
	// The node image, with the control plane preloaded (as kind's published node images
	// have it); Calico and the demo app come through the local registry or kind load.
	if err := b.nodeImage(ctx, bins, rootfs, sortedParts(versions.ControlPlaneImages())); err != nil {
		return nil, err
	}
	if err := b.suiteImages(ctx); err != nil {
		return nil, err
	}
	// With -peers: the upstream suites that run on the same cluster (make peers).
	if b.Peers {
		if err := b.peers(ctx, rootfs); err != nil {
			return nil, err
		}
	}
	res.NodeImage, res.StarImage, res.RegistryImage = versions.NodeImage(), versions.StarImage(), versions.RegistryImage()
	res.Built, res.Elapsed = b.built, time.Since(b.start)
	return res, nil
}

// suiteImages builds what every image source needs from here: the demo app and the local
// registry the nodes pull Calico and the demo app from.
func (b *Builder) suiteImages(ctx context.Context) error {
	if err := b.starImage(ctx); err != nil {
		return err
	}
	return b.registryImage(ctx)
}

func (b *Builder) preflight(ctx context.Context) error {
	if _, err := docker.Info(ctx, "{{.ServerVersion}}"); err != nil {
		return &StageError{Stage: "preflight", Command: "docker info", Err: err, Hint: "no Docker engine answers: run scripts/bootstrap-host.sh"}
	}
	tools := []string{"go", "gcc", "debootstrap", "jq"}
	if b.UpstreamOnly {
		tools = []string{"go"}
	}
	if b.Peers {
		tools = append(tools, "patch") // agnhost 2.45's porter patch
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return &StageError{Stage: "preflight", Command: "look for " + tool, Err: err, Hint: "run scripts/bootstrap-host.sh (it installs the build tools)"}
		}
	}
	// calico-node with cgo (the releases that pin a libbpf) compiles libbpf and links
	// libelf, zlib and libpcap.
	for _, v := range b.CalicoBuilds {
		if a, ok := versions.CalicoSource(v); ok && a.Libbpf != nil && !b.UpstreamOnly {
			for _, h := range []string{"/usr/include/gelf.h", "/usr/include/zlib.h", "/usr/include/pcap/pcap.h"} {
				if _, err := os.Stat(h); err != nil {
					return &StageError{Stage: "preflight", Command: "look for " + h, Err: err, Hint: "calico " + v + " links libbpf, libelf, zlib and libpcap: run scripts/bootstrap-host.sh (it installs libelf-dev, zlib1g-dev and libpcap-dev)"}
				}
			}
			if _, err := exec.LookPath("make"); err != nil {
				return &StageError{Stage: "preflight", Command: "look for make", Err: err, Hint: "run scripts/bootstrap-host.sh"}
			}
		}
	}
	if b.UpstreamOnly {
		return nil // a few tens of MB
	}
	dockerRoot, _ := docker.Info(ctx, "{{.DockerRootDir}}")
	for _, dir := range []string{b.Cache, dockerRoot} {
		if dir == "" {
			continue
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			continue
		}
		free := float64(st.Bavail) * float64(st.Bsize) / (1 << 30)
		if free < minFreeGiB {
			return &StageError{
				Stage: "preflight", Command: "check free space in " + dir,
				Err:  fmt.Errorf("only %.1f GiB free, a cold build needs about %d GiB", free, minFreeGiB),
				Hint: "free disk space, or set NETPOL_CACHE to a bigger disk",
			}
		}
	}
	return nil
}
