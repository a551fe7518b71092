package imagebuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/docker"
	"github.com/netpol-e2e/harness/internal/versions"
)

// nodeImage builds the kind node image the way kind's own recipe does (images/base of the
// kind module: its files, the Debian packages, the systemd pruning; then the Kubernetes
// binaries), with the runc shim and every image the cluster needs preloaded in containerd,
// since nothing can be pulled.
func (b *Builder) nodeImage(ctx context.Context, bins *binaries, rootfs string, preload []string) error {
	kind, err := b.moduleDir(ctx, "sigs.k8s.io/kind", versions.Kind)
	if err != nil {
		return err
	}
	baseFiles := filepath.Join(kind, "images", "base", "files")
	shim := filepath.Join(b.Repo, "scripts", "runc-capshim.sh")
	parts := []string{
		"node-image", versions.Kubernetes, imageKey(ctx, rootfs), "file:" + baseFiles, "file:" + shim,
		"file:" + bins.k8s, "file:" + bins.tools,
	}
	for _, img := range preload {
		id, err := docker.ImageID(ctx, img)
		if err != nil {
			return &StageError{Stage: "node-image", Command: "docker image inspect " + img, Err: err}
		}
		parts = append(parts, img+"="+id)
	}
	key, err := b.key(parts...)
	if err != nil {
		return err
	}
	tag := versions.NodeImage()
	return b.imageStage(ctx, "node-image", tag, key, func(ctxDir string) error {
		if err := nodeContext(ctxDir, baseFiles, shim, bins); err != nil {
			return err
		}
		stage1 := tag + "-stage1"
		df := nodeDockerfile(rootfs)
		if err := b.dockerBuild(ctx, "node-image", stage1, key, ctxDir, df); err != nil {
			return err
		}
		committed, err := b.preload(ctx, stage1, key, preload)
		if err != nil {
			return err
		}
		// docker commit cannot set STOPSIGNAL; a one-line build can.
		finalDir, err := os.MkdirTemp("", "netpol-node-final-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(finalDir)
		if err := b.dockerBuild(ctx, "node-image", tag, key, finalDir, fmt.Sprintf(`FROM %s
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
`, committed)); err != nil {
			return err
		}
		// The intermediate tags are only parents of the final image now.
		return b.docker(ctx, "node-image", "", nil, nil, "rmi", stage1, committed)
	})
}

// preload starts containerd inside a container of the stage-1 image, imports the images
// (docker save | ctr import, unpacked later by containerd itself, as kind does) and commits.
func (b *Builder) preload(ctx context.Context, image, key string, imgs []string) (string, error) {
	name := fmt.Sprintf("netpol-node-build-%d", time.Now().UnixNano())
	if err := b.docker(ctx, "node-image", "", nil, nil, "run", "-d", "--privileged", "--name", name,
		"--entrypoint", "sleep", image, "infinity"); err != nil {
		return "", err
	}
	defer func() { _ = docker.Remove(context.Background(), name) }()
	if err := b.docker(ctx, "node-image", "", nil, nil, "exec", name, "bash", "-c",
		`nohup containerd >/tmp/containerd.log 2>&1 &
for i in $(seq 50); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 0.2; done
cat /tmp/containerd.log; exit 1`); err != nil {
		return "", err
	}
	b.logf("%-28s preloading %d images into the node's containerd", "node-image", len(imgs))
	save := docker.Cmd(ctx, append([]string{"save"}, imgs...)...)
	pipe, err := save.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := save.Start(); err != nil {
		return "", err
	}
	importErr := b.docker(ctx, "node-image", "", nil, pipe, "exec", "-i", name,
		"ctr", "--namespace=k8s.io", "images", "import", "--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack", "--digests", "-")
	if err := save.Wait(); err != nil && importErr == nil {
		importErr = &StageError{Stage: "node-image", Command: "docker save", Err: err}
	}
	if importErr != nil {
		return "", importErr
	}
	if err := b.docker(ctx, "node-image", "", nil, nil, "exec", name, "bash", "-c",
		`ctr -n k8s.io images ls -q | sort
pkill -x containerd
# PID 1 here is sleep, which reaps nothing: an exited containerd stays a zombie (Z).
for i in $(seq 300); do ps -C containerd -o stat= | grep -qv Z || exit 0; sleep 0.2; done
echo "containerd did not stop within 60s"; cat /tmp/containerd.log | tail -20; exit 1`); err != nil {
		return "", err
	}
	committed := versions.NodeImage() + "-stage2"
	if err := b.docker(ctx, "node-image", "", nil, nil, "commit",
		"--change", "LABEL "+LabelKey+"="+key, name, committed); err != nil {
		return "", err
	}
	return committed, nil
}

// nodeContext fills a node image's build context: kind's base files (files/) and the
// binaries (root/), with the in-node runc shim.
func nodeContext(ctxDir, baseFiles, shim string, bins *binaries) error {
	isExec := func(rel string) bool {
		return strings.HasPrefix(rel, "usr/local/bin/") || strings.HasPrefix(rel, "kind/bin/")
	}
	for _, d := range []string{"etc", "kind", "usr"} {
		if err := copyTree(filepath.Join(baseFiles, d), filepath.Join(ctxDir, "files", d), func(rel string) bool { return isExec(d + "/" + rel) }); err != nil {
			return err
		}
	}
	root := filepath.Join(ctxDir, "root")
	copies := map[string]string{
		filepath.Join(bins.k8s, "kubeadm"):                   "usr/bin/kubeadm",
		filepath.Join(bins.k8s, "kubelet"):                   "usr/bin/kubelet",
		filepath.Join(bins.k8s, "kubectl"):                   "usr/bin/kubectl",
		filepath.Join(bins.tools, "containerd"):              "usr/local/bin/containerd",
		filepath.Join(bins.tools, "ctr"):                     "usr/local/bin/ctr",
		filepath.Join(bins.tools, "containerd-shim-runc-v2"): "usr/local/bin/containerd-shim-runc-v2",
		filepath.Join(bins.tools, "crictl"):                  "usr/local/bin/crictl",
		filepath.Join(bins.tools, "runc"):                    "usr/local/sbin/runc.real",
	}
	for _, p := range cniPluginPaths {
		n := filepath.Base(p)
		copies[filepath.Join(bins.tools, "cni", n)] = "opt/cni/bin/" + n
	}
	for from, to := range copies {
		if err := copyFile(from, filepath.Join(root, to), 0o755); err != nil {
			return err
		}
	}
	// The in-node runc shim: the same wrapper as the host's, also clamping oomScoreAdj
	// (kubelet asks for -998). It does nothing where CAP_SYS_RESOURCE is present.
	shimText, err := os.ReadFile(shim)
	if err != nil {
		return err
	}
	shimText = []byte(strings.Replace(string(shimText), "@REAL_RUNC@", "/usr/local/sbin/runc.real", 1))
	shimText = []byte(strings.Replace(string(shimText), "set -euo pipefail\n", "set -euo pipefail\nexport NETPOL_CLAMP_OOM=${NETPOL_CLAMP_OOM:-1}\n", 1))
	return os.WriteFile(filepath.Join(root, "usr/local/sbin/runc"), shimText, 0o755)
}

// nodeDockerfile is stage 1 of the node image, as kind's images/base/Dockerfile does it.
func nodeDockerfile(rootfs string) string {
	return fmt.Sprintf(`FROM %s
COPY files/etc/ /etc/
COPY files/kind/ /kind/
COPY files/usr/ /usr/
COPY root/usr/ /usr/
COPY root/opt/ /opt/
RUN systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests \
 && ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \
 && printf %%s %s > /kind/version \
 && containerd --version && runc.real --version && kubelet --version
ENV container=docker
`, rootfs, versions.Kubernetes)
}
