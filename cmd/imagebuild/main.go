// Command imagebuild builds every image the harness needs offline (see internal/imagebuild):
// `make images` runs it. Outputs are cached under $NETPOL_CACHE (default /var/cache/netpol-e2e).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/netpol-e2e/harness/internal/imagebuild"
	"github.com/netpol-e2e/harness/internal/versions"
)

func main() {
	repo := flag.String("repo", ".", "repository root")
	calico := flag.String("calico-builds", versions.CalicoUpgradeFrom+","+versions.CalicoDefault,
		"comma-separated Calico versions to build (default: what the default run and upgrade need): "+strings.Join(versions.CalicoReleases(), ", ")+" ("+versions.CalicoVersion+" from the served module, the others from their source archives), or "+versions.CalicoUpgradeBuild+" (a second build of the module: a restart-only rollout); `all`: every release and the branch snapshot "+versions.CalicoBranch+" (the upgrade path and its optional last hop); each build's images are pushed to the local registry (or kind-loaded) by the e2e")
	sources := flag.String("sources", os.Getenv(imagebuild.SourcesEnv), "directory searched first for source archives ("+imagebuild.SourcesEnv+"), e.g. ../shared/sources")
	only := flag.String("only", "", `"upstream": build only what -image-source=upstream needs from here (the demo app's image and the local registry's)`)
	peers := flag.Bool("peers", false, "also build the peer suites: the upstream Kubernetes Netpol specs, the network-policy-api conformance suites and agnhost (make peers runs them)")
	flag.Parse()
	if *only != "" && *only != "upstream" {
		fail(fmt.Errorf("-only=%q: the one partial build is -only=upstream", *only))
	}
	if *only != "" && *peers {
		fail(fmt.Errorf("-peers with -only=upstream: the peer suites' images are built on the Debian root filesystem of the full build; drop -only=upstream"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := filepath.Abs(*repo)
	if err != nil {
		fail(err)
	}
	builds := strings.Split(*calico, ",")
	if *calico == "all" {
		builds = versions.CalicoReleases()
	}
	b := &imagebuild.Builder{Repo: root, Cache: versions.CacheDir(), Out: os.Stdout, CalicoBuilds: builds, Sources: *sources, UpstreamOnly: *only == "upstream", Peers: *peers}
	res, err := b.Build(ctx)
	if err != nil {
		fail(err)
	}
	if res.NodeImage != "" {
		fmt.Printf("node image:   %s\n", res.NodeImage)
	}
	fmt.Printf("star image:   %s\n", res.StarImage)
	fmt.Printf("registry:     %s\n", res.RegistryImage)
	if *peers {
		fmt.Printf("peer suites:  %s\n", versions.PeersDir())
	}
	for v, m := range res.CalicoManifests {
		fmt.Printf("calico %s: manifest %s\n", v, m)
	}
	if len(res.Built) == 0 {
		fmt.Printf("everything was cached: rebuilt nothing in %.0fs\n", res.Elapsed.Seconds())
	} else {
		fmt.Printf("built %d stages in %.0fs: %s\n", len(res.Built), res.Elapsed.Seconds(), strings.Join(res.Built, ", "))
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "imagebuild: %v\n", err)
	os.Exit(1)
}
