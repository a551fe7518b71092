package imagebuild

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/netpol-e2e/harness/internal/peers"
	"github.com/netpol-e2e/harness/internal/versions"
)

// peers builds the peer suites (-peers): the upstream Netpol specs' test binary and
// agnhost 2.66.1 from the node's Kubernetes release, agnhost 2.45 from v1.28.0 (what the
// conformance manifests name; its porter patched to keep serving TCP and UDP where the
// kernel refuses SCTP, as it does for a failed TCP port), each network-policy-api
// conformance suite compiled in its own module (its go.mod and go.sum, unchanged), and
// both agnhost images on the Debian root filesystem as upstream's are on Alpine (the
// conformance servers run /bin/bash).
// The test binaries are copied to versions.PeersDir, where the e2e runs them.
func (b *Builder) peers(ctx context.Context, rootfs string) error {
	b.logf("peer suites: about 3 min when the Kubernetes build cache is warm")
	netpolMod := filepath.Join(b.Repo, "images", "gomod", "upstream-netpol")
	agnhostFlags := func(tag string) string { return "-s -w -X main.Version=" + tag }
	key, err := b.key("upstream-netpol", versions.AgnhostNetpol, "file:"+netpolMod)
	if err != nil {
		return err
	}
	netpol, err := b.dirStage("upstream-netpol", key, func(out string) error {
		if err := b.run(ctx, "upstream-netpol", netpolMod, nil, nil, "go", "test", "-c", "-trimpath", "-o", filepath.Join(out, "netpol-e2e.test"), "./netpol"); err != nil {
			return err
		}
		return b.run(ctx, "upstream-netpol", netpolMod, []string{"CGO_ENABLED=0"}, nil, "go", "build", "-trimpath",
			"-ldflags", agnhostFlags(versions.AgnhostNetpol), "-o", filepath.Join(out, "agnhost"), "k8s.io/kubernetes/test/images/agnhost")
	})
	if err != nil {
		return err
	}
	agnhostOld, err := b.goBuildPatched(ctx, "agnhost-"+versions.AgnhostConformance, agnhostFlags(versions.AgnhostConformance), "k8s.io/kubernetes/test/images/agnhost")
	if err != nil {
		return err
	}
	k8s, err := b.moduleDir(ctx, "k8s.io/kubernetes", versions.Kubernetes)
	if err != nil {
		return err
	}
	porter := filepath.Join(k8s, "test", "images", "agnhost", "porter")
	for tag, dir := range map[string]string{versions.AgnhostNetpol: netpol, versions.AgnhostConformance: agnhostOld} {
		if err := b.agnhostImage(ctx, rootfs, tag, dir, porter); err != nil {
			return err
		}
	}
	bins := map[string]string{versions.NetpolE2EBinary(): filepath.Join(netpol, "netpol-e2e.test")}
	for _, v := range versions.NetworkPolicyAPIVersions {
		src, err := b.moduleDir(ctx, "sigs.k8s.io/network-policy-api", v)
		if err != nil {
			return err
		}
		stage := "network-policy-api-" + v + "-conformance"
		key, err := b.key(stage, v, "subtests.json")
		if err != nil {
			return err
		}
		dir, err := b.dirStage(stage, key, func(out string) error {
			// In the module cache (read-only): the suite's own go.mod and go.sum decide.
			if err := b.run(ctx, stage, src, nil, nil, "go", "test", "-c", "-trimpath", "-o", filepath.Join(out, "conformance.test"), "./conformance"); err != nil {
				return err
			}
			subs, err := peers.ConformanceSubtests(filepath.Join(src, "conformance", "tests"))
			if err != nil {
				return err
			}
			js, err := json.MarshalIndent(subs, "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(out, "subtests.json"), js, 0o644)
		})
		if err != nil {
			return err
		}
		bins[versions.ConformanceBinary(v)] = filepath.Join(dir, "conformance.test")
		bins[versions.ConformanceSubtestsFile(v)] = filepath.Join(dir, "subtests.json")
	}
	if err := os.MkdirAll(versions.PeersDir(), 0o755); err != nil {
		return err
	}
	for to, from := range bins {
		if err := copyFile(from, to, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// agnhostImage is agnhost (its binary in dir) under upstream's name, as upstream's image
// holds it: /agnhost as the entrypoint, porter's test certificate (from the porter folder)
// beside it.
func (b *Builder) agnhostImage(ctx context.Context, rootfs, tag, dir, porter string) error {
	stage := "agnhost-" + tag + "-image"
	key, err := b.key(stage, rootfs, imageKey(ctx, rootfs), "file:"+filepath.Join(dir, "agnhost"), "file:"+porter)
	if err != nil {
		return err
	}
	return b.imageStage(ctx, stage, versions.AgnhostImage(tag), key, func(ctxDir string) error {
		for from, to := range map[string]string{
			filepath.Join(dir, "agnhost"):          "agnhost",
			filepath.Join(porter, "localhost.crt"): "localhost.crt",
			filepath.Join(porter, "localhost.key"): "localhost.key",
		} {
			if err := copyFile(from, filepath.Join(ctxDir, to), 0o755); err != nil {
				return err
			}
		}
		return b.dockerBuild(ctx, stage, versions.AgnhostImage(tag), key, ctxDir, "FROM "+rootfs+`
COPY agnhost localhost.crt localhost.key /
RUN ln -s agnhost /agnhost-2 && mkdir /uploads
EXPOSE 80 8080 8081 9376 5000
ENTRYPOINT ["/agnhost"]
CMD ["pause"]
`)
	})
}

// goBuildPatched builds a main package of a build module (images/gomod/NAME) from its
// vendored dependencies with the module's *.patch files applied (patch -p0, paths under
// vendor/): what we change in upstream code is a file in the repository, reviewed like
// code, and the build fails if a patch no longer applies.
func (b *Builder) goBuildPatched(ctx context.Context, module, ldflags, pkg string) (string, error) {
	modDir := filepath.Join(b.Repo, "images", "gomod", module)
	key, err := b.key(module, ldflags, pkg, "file:"+modDir)
	if err != nil {
		return "", err
	}
	return b.dirStage(module, key, func(out string) error {
		work := filepath.Join(out, "src")
		entries, err := os.ReadDir(modDir)
		if err != nil {
			return err
		}
		var patches []string
		for _, e := range entries {
			if err := copyFile(filepath.Join(modDir, e.Name()), filepath.Join(work, e.Name()), 0o644); err != nil {
				return err
			}
			if filepath.Ext(e.Name()) == ".patch" {
				patches = append(patches, e.Name())
			}
		}
		if err := b.run(ctx, module, work, nil, nil, "go", "mod", "vendor"); err != nil {
			return err
		}
		for _, p := range patches {
			if err := b.run(ctx, module, work, nil, nil, "patch", "-p0", "--forward", "--batch", "-i", p); err != nil {
				return err
			}
		}
		if err := b.run(ctx, module, work, []string{"CGO_ENABLED=0"}, nil, "go", "build", "-mod=vendor", "-trimpath", "-ldflags", ldflags, "-o", out+"/", pkg); err != nil {
			return err
		}
		return os.RemoveAll(work)
	})
}
