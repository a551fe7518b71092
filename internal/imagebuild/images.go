package imagebuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/netpol-e2e/harness/internal/docker"
	"github.com/netpol-e2e/harness/internal/versions"
)

// rootfsImage debootstraps the Debian root filesystem (cached as a tarball) and imports it.
func (b *Builder) rootfsImage(ctx context.Context) (string, error) {
	script := filepath.Join(b.Repo, "images", "rootfs", "build.sh")
	key, err := b.key("rootfs", versions.Debian, "file:"+script, "file:"+filepath.Join(b.Repo, "images", "debian.sh"))
	if err != nil {
		return "", err
	}
	b.logf("debian rootfs: about 3 min when nothing is cached")
	dir, err := b.dirStage("debian-rootfs", key, func(out string) error {
		return b.run(ctx, "debian-rootfs", out, nil, nil, "bash", script, filepath.Join(out, "rootfs.tar"))
	})
	if err != nil {
		return "", err
	}
	tag := versions.LocalRegistry + "/rootfs:" + versions.Debian
	return tag, b.imageStage(ctx, "rootfs-image", tag, key, func(string) error {
		return b.importRootfs(ctx, "rootfs-image", dir, key, tag)
	})
}

// importRootfs imports a debootstrapped root filesystem (dir/rootfs.tar) as an image
// labelled with its stage key.
func (b *Builder) importRootfs(ctx context.Context, stage, dir, key, tag string) error {
	return b.docker(ctx, stage, dir, nil, nil, "import",
		"-c", "LABEL "+LabelKey+"="+key, "-c", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		filepath.Join(dir, "rootfs.tar"), tag)
}

// scratchImage builds a FROM scratch image holding binaries (src dir, names) at dest.
func (b *Builder) scratchImage(ctx context.Context, stage, tag, srcDir string, files map[string]string, extra string) error {
	parts := []string{stage, tag, extra}
	for from, to := range files {
		parts = append(parts, from+"->"+to, "file:"+filepath.Join(srcDir, from))
	}
	key, err := b.key(sortedParts(parts)...)
	if err != nil {
		return err
	}
	return b.imageStage(ctx, stage, tag, key, func(ctxDir string) error {
		df := "FROM scratch\nENV PATH=/usr/local/bin:/usr/bin:/bin\n"
		for from, to := range files {
			if err := copyFile(filepath.Join(srcDir, from), filepath.Join(ctxDir, "files", from), 0o755); err != nil {
				return err
			}
			df += fmt.Sprintf("COPY files/%s %s\n", from, to)
		}
		return b.dockerBuild(ctx, stage, tag, key, ctxDir, df+extra)
	})
}

// sortedParts makes a key independent of map iteration order.
func sortedParts(p []string) []string {
	out := slices.Clone(p)
	slices.Sort(out)
	return out
}

// controlPlaneImages builds what kubeadm pulls, under the names it pulls them by.
func (b *Builder) controlPlaneImages(ctx context.Context, bins *binaries, rootfs string) error {
	k := "registry.k8s.io/"
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if err := b.scratchImage(ctx, c+"-image", k+c+":"+versions.Kubernetes, bins.k8s,
			map[string]string{c: "/usr/local/bin/" + c}, fmt.Sprintf("ENTRYPOINT [\"/usr/local/bin/%s\"]\n", c)); err != nil {
			return err
		}
	}
	if err := b.scratchImage(ctx, "etcd-image", k+"etcd:"+versions.EtcdImageTag, bins.etcd,
		map[string]string{"etcd": "/usr/local/bin/etcd", "etcdctl": "/usr/local/bin/etcdctl"}, "ENTRYPOINT [\"/usr/local/bin/etcd\"]\n"); err != nil {
		return err
	}
	if err := b.scratchImage(ctx, "coredns-image", k+"coredns/coredns:"+versions.CoreDNS, bins.coredns,
		map[string]string{"coredns": "/coredns"}, "EXPOSE 53 53/udp\nENTRYPOINT [\"/coredns\"]\n"); err != nil {
		return err
	}
	for _, tag := range []string{versions.Pause, versions.KindSandboxPause} {
		if err := b.scratchImage(ctx, "pause-image-"+tag, k+"pause:"+tag, bins.pause,
			map[string]string{"pause": "/pause"}, "USER 65535:65535\nENTRYPOINT [\"/pause\"]\n"); err != nil {
			return err
		}
	}
	// kube-proxy needs iptables, conntrack and friends: it sits on the Debian rootfs.
	tag := k + "kube-proxy:" + versions.Kubernetes
	key, err := b.key("kube-proxy-image", rootfs, imageKey(ctx, rootfs), "file:"+filepath.Join(bins.k8s, "kube-proxy"))
	if err != nil {
		return err
	}
	return b.imageStage(ctx, "kube-proxy-image", tag, key, func(ctxDir string) error {
		if err := copyFile(filepath.Join(bins.k8s, "kube-proxy"), filepath.Join(ctxDir, "kube-proxy"), 0o755); err != nil {
			return err
		}
		return b.dockerBuild(ctx, "kube-proxy-image", tag, key, ctxDir,
			"FROM "+rootfs+"\nCOPY kube-proxy /usr/local/bin/kube-proxy\nENTRYPOINT [\"/usr/local/bin/kube-proxy\"]\n")
	})
}

// imageKey is the stage key an image was built with ("" when it does not exist).
func imageKey(ctx context.Context, tag string) string {
	return docker.ImageLabel(ctx, tag, LabelKey)
}

// calicoImages builds the images a build's manifest names: calico/node, calico/cni and
// calico/kube-controllers; on the v3.33 line calico/node and calico/calico.
func (b *Builder) calicoImages(ctx context.Context, bins *binaries, rootfs string, cb *calicoBuild) error {
	if cb.combined {
		// calico/node runs the combined binary's cgo build as /usr/bin/calico (its runit
		// services exec `calico component felix`...) and ships mountns, as node/Dockerfile.
		if err := b.calicoNodeImage(ctx, rootfs, cb, map[string]string{"cgo/calico": "calico", "mountns": "mountns"}); err != nil {
			return err
		}
		return b.calicoCombinedImage(ctx, cb)
	}
	if err := b.calicoNodeImage(ctx, rootfs, cb, map[string]string{"calico-node": "calico-node"}); err != nil {
		return err
	}
	if err := b.calicoCNIImage(ctx, bins, cb); err != nil {
		return err
	}
	return b.calicoKubeControllersImage(ctx, cb)
}

// calicoNodeImage: the Debian rootfs (iptables, nftables, ipset, conntrack, runit...) plus
// Calico's own filesystem/ (runit services, rc.local) and the node's binaries (the build's
// file -> its name in /usr/bin).
func (b *Builder) calicoNodeImage(ctx context.Context, rootfs string, cb *calicoBuild, binFiles map[string]string) error {
	bin, src, version, tags := cb.bin, cb.src, cb.version, versions.CalicoImages(cb.version)
	// VXLAN mode needs no BIRD or confd. Binaries go under usr/: the rootfs is merged-/usr.
	keyParts := []string{"calico-node-image", version, imageKey(ctx, rootfs), "file:" + filepath.Join(src, "node", "filesystem")}
	for from, to := range binFiles {
		keyParts = append(keyParts, from+"->"+to, "file:"+filepath.Join(bin, from))
	}
	if cb.bpf != "" {
		keyParts = append(keyParts, "bpf", "file:"+cb.bpf)
	}
	nodeKey, err := b.key(sortedParts(keyParts)...)
	if err != nil {
		return err
	}
	return b.imageStage(ctx, "calico-node-image-"+version, tags["node"], nodeKey, func(ctxDir string) error {
		isExec := func(rel string) bool {
			return strings.HasPrefix(rel, "sbin/") || filepath.Base(rel) == "run" || rel == "etc/rc.local"
		}
		if err := copyTree(filepath.Join(src, "node", "filesystem", "etc"), filepath.Join(ctxDir, "etc"), func(rel string) bool { return isExec("etc/" + rel) }); err != nil {
			return err
		}
		if err := copyTree(filepath.Join(src, "node", "filesystem", "sbin"), filepath.Join(ctxDir, "usr", "sbin"), func(string) bool { return true }); err != nil {
			return err
		}
		for from, to := range binFiles {
			if err := copyFile(filepath.Join(bin, from), filepath.Join(ctxDir, "usr", "bin", to), 0o755); err != nil {
				return err
			}
		}
		// The BPF programs where node/Makefile puts them; Felix loads them from there in eBPF mode.
		if cb.bpf != "" {
			if err := copyTree(cb.bpf, filepath.Join(ctxDir, "usr", "lib", "calico", "bpf"), func(string) bool { return false }); err != nil {
				return err
			}
		}
		return b.dockerBuild(ctx, "calico-node-image-"+version, tags["node"], nodeKey, ctxDir, fmt.Sprintf(`FROM %s
COPY etc/ /etc/
COPY usr/ /usr/
ENV SVDIR=/etc/service/enabled
LABEL org.opencontainers.image.version=%s
CMD ["start_runit"]
`, rootfs, version))
	})
}

// calicoCNIImage: the install program, calico and calico-ipam (one binary, two names) and
// the reference plugins its conflist chains.
func (b *Builder) calicoCNIImage(ctx context.Context, bins *binaries, cb *calicoBuild) error {
	bin, version, tags := cb.bin, cb.version, versions.CalicoImages(cb.version)
	files := map[string]string{"calico": "/opt/cni/bin/calico", "install": "/opt/cni/bin/install"}
	cniKeyParts := []string{"calico-cni-image", version, "file:" + filepath.Join(bin, "calico"), "file:" + filepath.Join(bin, "install")}
	for _, p := range cniPluginPaths {
		cniKeyParts = append(cniKeyParts, "file:"+filepath.Join(bins.tools, "cni", filepath.Base(p)))
	}
	cniKey, err := b.key(cniKeyParts...)
	if err != nil {
		return err
	}
	return b.imageStage(ctx, "calico-cni-image-"+version, tags["cni"], cniKey, func(ctxDir string) error {
		for from := range files {
			if err := copyFile(filepath.Join(bin, from), filepath.Join(ctxDir, "bin", from), 0o755); err != nil {
				return err
			}
		}
		if err := copyFile(filepath.Join(bin, "calico"), filepath.Join(ctxDir, "bin", "calico-ipam"), 0o755); err != nil {
			return err
		}
		for _, p := range cniPluginPaths {
			n := filepath.Base(p)
			if err := copyFile(filepath.Join(bins.tools, "cni", n), filepath.Join(ctxDir, "bin", n), 0o755); err != nil {
				return err
			}
		}
		return b.dockerBuild(ctx, "calico-cni-image-"+version, tags["cni"], cniKey, ctxDir, fmt.Sprintf(`FROM scratch
COPY bin/ /opt/cni/bin/
ENV PATH=/opt/cni/bin
LABEL org.opencontainers.image.version=%s
CMD ["/opt/cni/bin/install"]
`, version))
	})
}

// calicoKubeControllersImage: kube-controllers runs as uid 999 and writes /status/status.json.
func (b *Builder) calicoKubeControllersImage(ctx context.Context, cb *calicoBuild) error {
	bin, version, tags := cb.bin, cb.version, versions.CalicoImages(cb.version)
	kcKey, err := b.key("calico-kube-controllers-image", version, "file:"+filepath.Join(bin, "kube-controllers"), "file:"+filepath.Join(bin, "check-status"))
	if err != nil {
		return err
	}
	return b.imageStage(ctx, "calico-kube-controllers-image-"+version, tags["kube-controllers"], kcKey, func(ctxDir string) error {
		for _, n := range []string{"kube-controllers", "check-status"} {
			if err := copyFile(filepath.Join(bin, n), filepath.Join(ctxDir, "bin", n), 0o755); err != nil {
				return err
			}
		}
		for _, d := range []string{"status", "tmp"} {
			if err := copyFile("/dev/null", filepath.Join(ctxDir, d, ".keep"), 0o644); err != nil {
				return err
			}
		}
		return b.dockerBuild(ctx, "calico-kube-controllers-image-"+version, tags["kube-controllers"], kcKey, ctxDir, fmt.Sprintf(`FROM scratch
COPY bin/ /usr/bin/
COPY --chown=999:999 status/ /status/
COPY --chown=999:999 tmp/ /tmp/
USER 999
LABEL org.opencontainers.image.version=%s
ENTRYPOINT ["/usr/bin/kube-controllers"]
`, version))
	})
}

// calicoCombinedImage is the v3.33 line's calico/calico, as docker/calico/Dockerfile
// makes it: the static combined binary as /usr/bin/calico with calicoctl and calico-ipam
// linked to it (it dispatches on its name; the manifest runs `calico-ipam -upgrade`,
// `component cni install`, which copies it to the host as the CNI plugin, and `component
// kube-controllers`), typha's default config, uid 10001. calico/base (a UBI layer with CA
// certificates) is not built here: FROM scratch, with /status and /tmp writable by 10001
// for kube-controllers' status file.
func (b *Builder) calicoCombinedImage(ctx context.Context, cb *calicoBuild) error {
	version, tag := cb.version, versions.CalicoImages(cb.version)["calico"]
	typha := filepath.Join(cb.src, "docker", "calico", "typha.cfg")
	key, err := b.key("calico-calico-image", version, "file:"+filepath.Join(cb.bin, "calico"), "file:"+typha)
	if err != nil {
		return err
	}
	return b.imageStage(ctx, "calico-calico-image-"+version, tag, key, func(ctxDir string) error {
		if err := copyFile(filepath.Join(cb.bin, "calico"), filepath.Join(ctxDir, "root", "usr", "bin", "calico"), 0o755); err != nil {
			return err
		}
		for _, name := range []string{"calicoctl", "calico-ipam"} {
			if err := os.Symlink("calico", filepath.Join(ctxDir, "root", "usr", "bin", name)); err != nil {
				return err
			}
		}
		if err := copyFile(typha, filepath.Join(ctxDir, "root", "etc", "calico", "typha.cfg"), 0o644); err != nil {
			return err
		}
		for _, d := range []string{"status", "tmp"} {
			if err := copyFile("/dev/null", filepath.Join(ctxDir, "owned", d, ".keep"), 0o644); err != nil {
				return err
			}
		}
		return b.dockerBuild(ctx, "calico-calico-image-"+version, tag, key, ctxDir, fmt.Sprintf(`FROM scratch
COPY root/ /
COPY --chown=10001:10001 owned/ /
USER 10001:10001
LABEL org.opencontainers.image.version=%s
ENTRYPOINT ["/usr/bin/calico"]
`, version))
	})
}

// starImage builds the demo app from this repository.
func (b *Builder) starImage(ctx context.Context) error {
	var parts []string
	for _, p := range []string{"go.mod", "go.sum", "cmd/star", "internal/star", "internal/matrix"} {
		parts = append(parts, "file:"+filepath.Join(b.Repo, p))
	}
	key, err := b.key(append([]string{"star-image", versions.StarVersion}, parts...)...)
	if err != nil {
		return err
	}
	return b.imageStage(ctx, "star-image", versions.StarImage(), key, func(ctxDir string) error {
		if err := b.run(ctx, "star-image", b.Repo, []string{"CGO_ENABLED=0"}, nil,
			"go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(ctxDir, "star"), "./cmd/star"); err != nil {
			return err
		}
		return b.dockerBuild(ctx, "star-image", versions.StarImage(), key, ctxDir, `FROM scratch
COPY star /star
USER 65532:65532
ENTRYPOINT ["/star"]
`)
	})
}
