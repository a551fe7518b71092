package imagebuild

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/netpol-e2e/harness/internal/versions"
)

// moduleDir downloads a module (through the Go module proxy) and returns its directory in
// the module cache: upstream recipe files are read from there, never copied into the repo.
func (b *Builder) moduleDir(ctx context.Context, path, version string) (string, error) {
	out, err := output(ctx, "go", "mod", "download", "-json", path+"@"+version)
	if err != nil {
		return "", &StageError{
			Stage: "module " + path, Command: "go mod download " + path + "@" + version, Err: err,
			Hint: "check that the Go module proxy (GOPROXY) is reachable",
		}
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", path, version, m.Error)
	}
	return m.Dir, nil
}

// goBuild builds main packages of a build module under images/gomod/NAME (each has its own
// go.mod so the harness's dependencies stay clean).
func (b *Builder) goBuild(ctx context.Context, stage, module, ldflags string, cgo bool, pkgs ...string) (string, error) {
	modDir := filepath.Join(b.Repo, "images", "gomod", module)
	key, err := b.key(append([]string{stage, ldflags, fmt.Sprint(cgo), "file:" + modDir}, pkgs...)...)
	if err != nil {
		return "", err
	}
	return b.dirStage(stage, key, func(out string) error {
		args := append([]string{"build", "-trimpath", "-ldflags", ldflags, "-o", out + "/"}, pkgs...)
		if err := b.run(ctx, stage, modDir, []string{"CGO_ENABLED=" + map[bool]string{true: "1", false: "0"}[cgo]}, nil, "go", args...); err != nil {
			return err
		}
		// A main package named after a versioned path ends up as "server", "v3"...: give
		// the binaries the names their images expect.
		for from, to := range binaryRenames {
			if _, err := os.Stat(filepath.Join(out, from)); err == nil {
				if err := os.Rename(filepath.Join(out, from), filepath.Join(out, to)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// goInstall installs path@version packages (modules without replace directives).
func (b *Builder) goInstall(ctx context.Context, stage string, cgo bool, tags string, pkgs ...string) (string, error) {
	key, err := b.key(append([]string{stage, tags, fmt.Sprint(cgo)}, pkgs...)...)
	if err != nil {
		return "", err
	}
	return b.dirStage(stage, key, func(out string) error {
		args := []string{"install", "-trimpath", "-ldflags", "-s -w"}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		args = append(args, pkgs...)
		// Run outside any module so each path@version uses its own go.mod.
		return b.run(ctx, stage, os.TempDir(), []string{"GOBIN=" + out, "CGO_ENABLED=" + map[bool]string{true: "1", false: "0"}[cgo]}, nil, "go", args...)
	})
}

type binaries struct {
	k8s, etcd, tools, coredns, pause string
}

func (b *Builder) buildBinaries(ctx context.Context) (*binaries, error) {
	var bins binaries
	var err error
	v := "k8s.io/component-base/version"
	k8sFlags := fmt.Sprintf("-s -w -X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean",
		v, versions.Kubernetes, v, v, versions.KubernetesMinor, v)
	var k8sPkgs []string
	for _, c := range []string{"kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"} {
		k8sPkgs = append(k8sPkgs, "k8s.io/kubernetes/cmd/"+c)
	}
	b.logf("kubernetes binaries: about 17 min on 2 cores when nothing is cached")
	if bins.k8s, err = b.goBuild(ctx, "kubernetes-binaries", "kubernetes", k8sFlags, false, k8sPkgs...); err != nil {
		return nil, err
	}
	if bins.etcd, err = b.goBuild(ctx, "etcd-binaries", "etcd", "-s -w", false, "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/etcdctl/v3"); err != nil {
		return nil, err
	}
	cd := "github.com/containerd/containerd/v2/cmd/"
	cni := "github.com/containernetworking/plugins/plugins/"
	at := func(p, ver string) string { return p + "@" + ver }
	if bins.tools, err = b.goInstall(ctx, "containerd-binaries", false, "",
		at(cd+"containerd", versions.Containerd), at(cd+"ctr", versions.Containerd), at(cd+"containerd-shim-runc-v2", versions.Containerd)); err != nil {
		return nil, err
	}
	runc, err := b.goInstall(ctx, "runc-binary", true, "seccomp", at("github.com/opencontainers/runc", versions.Runc))
	if err != nil {
		return nil, err
	}
	crictl, err := b.goInstall(ctx, "crictl-binary", false, "", at("sigs.k8s.io/cri-tools/cmd/crictl", versions.Crictl))
	if err != nil {
		return nil, err
	}
	var cniPkgs []string
	for _, p := range cniPluginPaths {
		cniPkgs = append(cniPkgs, at(cni+p, versions.CNIPlugins))
	}
	cniDir, err := b.goInstall(ctx, "cni-plugins", false, "", cniPkgs...)
	if err != nil {
		return nil, err
	}
	if bins.coredns, err = b.goInstall(ctx, "coredns-binary", false, "", at("github.com/coredns/coredns", versions.CoreDNS)); err != nil {
		return nil, err
	}
	// One directory with the node's runtime tools.
	tools := bins.tools
	toolKey, _ := b.key(tools, runc, crictl, cniDir)
	if bins.tools, err = b.dirStage("node-tools", toolKey, func(out string) error {
		for dir, names := range map[string][]string{
			tools:  {"containerd", "ctr", "containerd-shim-runc-v2"},
			runc:   {"runc"},
			crictl: {"crictl"},
		} {
			for _, n := range names {
				if err := copyFile(filepath.Join(dir, n), filepath.Join(out, n), 0o755); err != nil {
					return err
				}
			}
		}
		for _, p := range cniPluginPaths {
			n := filepath.Base(p)
			if err := copyFile(filepath.Join(cniDir, n), filepath.Join(out, "cni", n), 0o755); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if bins.pause, err = b.buildPause(ctx); err != nil {
		return nil, err
	}
	return &bins, nil
}

// binaryRenames maps what `go build -o DIR/` names a binary to its real name.
var binaryRenames = map[string]string{"server": "etcd"}

// cniPluginPaths are the reference CNI plugins built for the node and for Calico's CNI
// image (Calico's conflist chains portmap and bandwidth).
var cniPluginPaths = []string{"main/loopback", "main/bridge", "main/ptp", "ipam/host-local", "meta/portmap", "meta/bandwidth", "meta/tuning"}

// buildPause compiles Kubernetes' own pause.c statically.
func (b *Builder) buildPause(ctx context.Context) (string, error) {
	k8s, err := b.moduleDir(ctx, "k8s.io/kubernetes", versions.Kubernetes)
	if err != nil {
		return "", err
	}
	src := filepath.Join(k8s, "build", "pause", "linux", "pause.c")
	key, err := b.key("pause", versions.Pause, "file:"+src)
	if err != nil {
		return "", err
	}
	return b.dirStage("pause-binary", key, func(out string) error {
		return b.run(ctx, "pause-binary", out, nil, nil, "gcc", "-Os", "-Wall", "-Werror", "-static",
			"-DVERSION=v"+versions.Pause, "-o", filepath.Join(out, "pause"), src)
	})
}
