package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/netpol-e2e/harness/internal/docker"
)

// What the nodes hold: images loaded by kind, pulled through the CRI and removed with all
// their content, files written, snapshots counted.

// LoadImage copies a local Docker image into every node's containerd that lacks that
// image ID (a reused cluster's nodes may have it), in parallel.
func (k *Kind) LoadImage(ctx context.Context, image string) error {
	all, err := k.provider.ListInternalNodes(k.opts.Name)
	if err != nil {
		return err
	}
	id, err := docker.ImageID(ctx, image)
	if err != nil {
		return fmt.Errorf("image %s is missing: build it with `make images`", image)
	}
	var targets []nodes.Node
	for _, n := range all {
		if have, err := nodeutils.ImageID(n, image); err != nil || have != id {
			targets = append(targets, n)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	tmp, err := os.CreateTemp("", "netpol-image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	tmp.Close()
	if err := docker.Save(ctx, tmp.Name(), image); err != nil {
		return fmt.Errorf("%w (build it with `make images`)", err)
	}
	return inParallel(targets, func(n nodes.Node) error {
		f, err := os.Open(tmp.Name())
		if err != nil {
			return err
		}
		defer f.Close()
		if err := nodeutils.LoadImageArchive(n, f); err != nil {
			return fmt.Errorf("load %s into node %s: %w", image, n.String(), err)
		}
		return nil
	})
}

// onEveryNode runs fn on every node of the cluster in parallel and joins their errors.
func (k *Kind) onEveryNode(fn func(n nodes.Node) error) error {
	all, err := k.provider.ListInternalNodes(k.opts.Name)
	if err != nil {
		return err
	}
	return inParallel(all, fn)
}

// inParallel runs fn on each node at once and joins their errors.
func inParallel(ns []nodes.Node, fn func(n nodes.Node) error) error {
	errs := make([]error, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Go(func() { errs[i] = fn(n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// nodeRun runs a command in a node, its error carrying the command and its output.
func nodeRun(ctx context.Context, n nodes.Node, stdin io.Reader, name string, args ...string) error {
	var out bytes.Buffer
	c := n.CommandContext(ctx, name, args...).SetStdout(&out).SetStderr(&out)
	if stdin != nil {
		c = c.SetStdin(stdin)
	}
	if err := c.Run(); err != nil {
		return fmt.Errorf("node %s: %s %s: %w: %s", n.String(), name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// WriteFile writes a file (its directories created) in every node.
func (k *Kind) WriteFile(ctx context.Context, path string, data []byte) error {
	return k.onEveryNode(func(n nodes.Node) error {
		return nodeRun(ctx, n, bytes.NewReader(data), "sh", "-c", `mkdir -p "$(dirname "$1")" && cat > "$1"`, "sh", path)
	})
}

// Pull pulls images in every node through the CRI, the way the kubelet does (the
// registry configuration, mirrors included, applies), one image after another per node,
// the nodes in parallel.
func (k *Kind) Pull(ctx context.Context, images ...string) error {
	return k.onEveryNode(func(n nodes.Node) error {
		for _, img := range images {
			if err := nodeRun(ctx, n, nil, "crictl", "pull", img); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveImages removes images from every node's containerd with every other reference
// to their content (the digest and ID references the CRI adds; the import-DATE@sha256
// index kind load leaves, which holds the image's manifest), and waits for containerd's
// garbage collection, so that no layer or unpacked snapshot of theirs is left: a later
// pull or load starts from nothing. Images a node lacks are fine.
func (k *Kind) RemoveImages(ctx context.Context, images ...string) error {
	return k.onEveryNode(func(n nodes.Node) error {
		var out bytes.Buffer
		if err := n.CommandContext(ctx, "ctr", "-n", "k8s.io", "images", "ls").SetStdout(&out).Run(); err != nil {
			return fmt.Errorf("node %s: ctr images ls: %w", n.String(), err)
		}
		indexed := func(digest string) ([]string, error) {
			var idx bytes.Buffer
			if err := n.CommandContext(ctx, "ctr", "-n", "k8s.io", "content", "get", digest).SetStdout(&idx).Run(); err != nil {
				return nil, fmt.Errorf("node %s: ctr content get %s: %w", n.String(), digest, err)
			}
			return indexManifests(idx.Bytes())
		}
		refs, err := sameContent(out.String(), images, indexed)
		if err != nil || len(refs) == 0 {
			return err
		}
		return nodeRun(ctx, n, nil, "ctr", append([]string{"-n", "k8s.io", "images", "rm", "--sync"}, refs...)...)
	})
}

// indexManifests are the manifest digests an image index lists.
func indexManifests(index []byte) ([]string, error) {
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(index, &idx); err != nil {
		return nil, fmt.Errorf("image index: %w", err)
	}
	var ds []string
	for _, m := range idx.Manifests {
		ds = append(ds, m.Digest)
	}
	return ds, nil
}

// sameContent reads `ctr images ls` (REF TYPE DIGEST ...) and returns every reference to
// the named images' content: those whose target is a named image's, and the indexes
// (indexed lists an index's manifests) that hold one.
func sameContent(ls string, images []string, indexed func(digest string) ([]string, error)) ([]string, error) {
	type row struct{ ref, kind, digest string }
	var rows []row
	digestOf := map[string]string{}
	for _, line := range strings.Split(ls, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		rows = append(rows, row{f[0], f[1], f[2]})
		digestOf[f[0]] = f[2]
	}
	targets := map[string]bool{}
	for _, img := range images {
		if d, ok := digestOf[img]; ok {
			targets[d] = true
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	var refs []string
	for _, r := range rows {
		hit := targets[r.digest]
		if !hit && strings.HasSuffix(r.kind, "image.index.v1+json") {
			ms, err := indexed(r.digest)
			if err != nil {
				return nil, err
			}
			hit = slices.ContainsFunc(ms, func(d string) bool { return targets[d] })
		}
		if hit {
			refs = append(refs, r.ref)
		}
	}
	return refs, nil
}

// Snapshots counts the committed snapshots (unpacked image layers; not the containers'
// writable ones) in every node's containerd: equal counts before and after an image's load
// and removal mean nothing of it was left.
func (k *Kind) Snapshots(ctx context.Context) (int, error) {
	var mu sync.Mutex
	total := 0
	err := k.onEveryNode(func(n nodes.Node) error {
		var out bytes.Buffer
		if err := n.CommandContext(ctx, "ctr", "-n", "k8s.io", "snapshots", "ls").SetStdout(&out).Run(); err != nil {
			return fmt.Errorf("node %s: ctr snapshots ls: %w", n.String(), err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, line := range strings.Split(out.String(), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "Committed" {
				total++
			}
		}
		return nil
	})
	return total, err
}
