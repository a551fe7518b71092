package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/calico"
	"github.com/netpol-e2e/harness/internal/check"
	"github.com/netpol-e2e/harness/internal/cluster"
	"github.com/netpol-e2e/harness/internal/docker"
	"github.com/netpol-e2e/harness/internal/imagebuild"
	"github.com/netpol-e2e/harness/internal/kube"
	"github.com/netpol-e2e/harness/internal/mirror"
	"github.com/netpol-e2e/harness/internal/report"
	"github.com/netpol-e2e/harness/internal/versions"
)

// Where the bytes come from (-image-source) and how images reach the nodes
// (-image-delivery).
const (
	sourceOffline   = "offline"   // every image built here; manifests from the cache
	sourceUpstream  = "upstream"  // kind's node image, Calico's release manifest and images
	sourceRehearsal = "rehearsal" // upstream mode with every byte from this machine

	deliveryRegistry = "registry"  // pushed to the local registry, pulled by the nodes
	deliveryKindLoad = "kind-load" // copied into every node's containerd by kind
)

const (
	registryContainer = "netpol-e2e-registry"
	registryVolume    = "netpol-e2e-registry"
)

// Suite state of the image supply, owned by TestMain.
var (
	registry *mirror.Registry
	// releases serves Calico's release manifests in the rehearsal.
	releases *mirror.Files
	// taggedNode is the node image tag the rehearsal created (removed at the end).
	taggedNode string
)

// builtHere reports whether Calico's images and manifests are this machine's builds.
func builtHere() bool { return *flagImageSource != sourceUpstream }

// upstreamNames reports whether manifests and images carry their upstream names and
// releases (upstream mode and its rehearsal).
func upstreamNames() bool { return *flagImageSource != sourceOffline }

func viaRegistry() bool { return *flagImageDelivery == deliveryRegistry }

// checkImageOptions checks -image-source, -image-delivery, -registry-port and
// -measure-delivery together.
func checkImageOptions(add func(format string, args ...any)) {
	switch *flagImageSource {
	case sourceOffline, sourceUpstream, sourceRehearsal:
	default:
		add("-image-source=%q: want offline, upstream or rehearsal", *flagImageSource)
	}
	switch *flagImageDelivery {
	case deliveryRegistry, deliveryKindLoad:
	default:
		add("-image-delivery=%q: want registry or kind-load", *flagImageDelivery)
	}
	if *flagImageSource == sourceRehearsal && !viaRegistry() {
		add("-image-source=rehearsal with -image-delivery=%s: the rehearsal pulls every image by its upstream name through the local registry; use -image-delivery=registry", *flagImageDelivery)
	}
	if upstreamNames() {
		for _, v := range calicoVersions() {
			if !versions.IsCalicoRelease(v) {
				add("-image-source=%s: %s is not a Calico release (upstream publishes no manifest and images of this build; a branch's are its head of today): use releases, e.g. -calico-version=%s -upgrade-to=%s, or -image-source=offline",
					*flagImageSource, versions.CalicoLabel(v), versions.CalicoUpgradeFrom, versions.CalicoDefault)
			}
		}
	}
	if *flagRegistryPort < 1 || *flagRegistryPort > 65535 {
		add("-registry-port=%d: want a TCP port (1-65535) free on 127.0.0.1", *flagRegistryPort)
	}
	if *flagMeasureDelivery && (!builtHere() || !viaRegistry()) {
		add("-measure-delivery compares kind load with the local registry for images built here: it needs -image-source=offline or rehearsal and -image-delivery=registry")
	}
}

// nodeImage is the kind node image of the run: -node-image, else the offline build, kind's
// default (upstream), or the tag of kind's default without its digest (rehearsal: our
// build under the tag users get; a digest names published bytes, which no build here has).
func nodeImage(ctx context.Context) (string, error) {
	if *flagNodeImage != "" {
		return *flagNodeImage, nil
	}
	switch *flagImageSource {
	case sourceOffline:
		return versions.NodeImage(), nil
	case sourceRehearsal:
		return rehearsalNodeImage(ctx)
	}
	return "", nil // kind's default
}

// rehearsalNodeImage tags the offline node image as kind's default tag, unless an image
// of that tag that is not ours (kind's published one, pulled) is there already.
func rehearsalNodeImage(ctx context.Context) (string, error) {
	tag := cluster.DefaultNodeTag()
	if _, err := docker.ImageID(ctx, tag); err == nil && docker.ImageLabel(ctx, tag, imagebuild.LabelKey) == "" {
		run.Environment["node image"] = tag + ": kind's published image, found locally"
		return tag, nil
	}
	if _, err := docker.ImageID(ctx, versions.NodeImage()); err != nil {
		return "", fmt.Errorf("node image %s is missing (%w): run `make images`", versions.NodeImage(), err)
	}
	if _, err := docker.Output(ctx, "tag", versions.NodeImage(), tag); err != nil {
		return "", err
	}
	taggedNode = tag
	run.Environment["node image"] = fmt.Sprintf("%s: the offline build (%s) under kind %s's default tag; kind's default names it by digest too (%s), which only the published bytes have", tag, versions.NodeImage(), versions.Kind, cluster.DefaultNodeImage)
	return tag, nil
}

// clusterPatches are the containerd patches of the run's nodes.
func clusterPatches() []string {
	if viaRegistry() {
		return []string{mirror.ContainerdPatch}
	}
	return nil
}

// startMirror starts the local registry and points every node's containerd at it; in the
// rehearsal it also serves Calico's release manifests on the loopback.
func startMirror(ctx context.Context) error {
	if *flagImageSource == sourceRehearsal {
		files := map[string]string{}
		for _, v := range calicoVersions() {
			files[calico.ReleaseManifestPath(v)] = versions.CalicoManifest(v)
		}
		var err error
		if releases, err = mirror.ServeFiles(files); err != nil {
			return err
		}
		run.Environment["calico release manifests"] = "served at " + releases.URL + " (the paths of " + calico.ReleaseHost + "), read by the code that downloads them"
	}
	if !viaRegistry() {
		run.Environment["image delivery"] = "kind load (every node's containerd, from the local Docker engine)"
		return nil
	}
	registry = &mirror.Registry{Container: registryContainer, Volume: registryVolume, Image: versions.RegistryImage(), Network: cluster.Network, HostPort: *flagRegistryPort}
	what, err := registry.Up(ctx)
	if err != nil {
		return err
	}
	fb := mirror.NoFallback
	if !builtHere() {
		fb = mirror.UpstreamFallback
	}
	for _, r := range mirror.Registries() {
		toml, err := mirror.HostsTOML(r, registry.MirrorURL(), fb)
		if err != nil {
			return err
		}
		if err := kindC.WriteFile(ctx, mirror.HostsPath(r), []byte(toml)); err != nil {
			return err
		}
	}
	fallback := "no fallback: nothing is fetched from the internet"
	if fb == mirror.UpstreamFallback {
		fallback = "falling back to the registries themselves"
	}
	run.Environment["image delivery"] = fmt.Sprintf("local registry %s (%s, %s, %s) as the nodes' mirror of %s, %s",
		registryContainer, versions.RegistryImage(), what, registry.MirrorURL(), strings.Join(mirror.Registries(), ", "), fallback)
	return nil
}

// stopMirror stops the registry (kept with a kept cluster, whose nodes pull from it) and
// the manifest server, and removes the node image tag the rehearsal made.
func stopMirror(ctx context.Context) error {
	if releases != nil {
		_ = releases.Close()
	}
	if taggedNode != "" && !*flagKeep {
		_, _ = docker.Output(ctx, "rmi", taggedNode)
	}
	if registry == nil || *flagKeep {
		return nil
	}
	return registry.Stop(ctx)
}

// calicoVersions are A and, when TestUpgrade runs, every later version of its path.
func calicoVersions() []string {
	if !upgradeSelected {
		return []string{calicoVersion()}
	}
	var out []string
	for _, v := range upgradePath() {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// upgradePath is TestUpgrade's sequence of versions: -upgrade-path, else A -> B -> A.
func upgradePath() []string {
	if *flagUpgradePath != "" {
		return strings.Split(*flagUpgradePath, ",")
	}
	return []string{calicoVersion(), upgradeTarget(), calicoVersion()}
}

// calicoVersion is the Calico the cluster is installed with (A): -calico-version, else the
// first version of -upgrade-path, else the newest release built here or, when TestUpgrade
// runs, the release before it.
func calicoVersion() string {
	switch {
	case *flagCalicoVersion != "":
		return *flagCalicoVersion
	case *flagUpgradePath != "":
		return strings.Split(*flagUpgradePath, ",")[0]
	case upgradeSelected:
		return versions.CalicoUpgradeFrom
	}
	return versions.CalicoDefault
}

// upgradeTarget is TestUpgrade's version B: -upgrade-to, else the newest release built here.
func upgradeTarget() string {
	if *flagUpgradeTo == "" {
		return versions.CalicoDefault
	}
	return *flagUpgradeTo
}

// upgradeSelected is set by checkInput when -run selects TestUpgrade.
var upgradeSelected bool

// calicoManifest reads a version's manifest: src when given, else the offline build's or
// the release's (from its host, or in the rehearsal from the local server). It returns
// where it came from.
func calicoManifest(ctx context.Context, version, src string) (string, []byte, error) {
	if src == "" {
		switch *flagImageSource {
		case sourceOffline:
			src = versions.CalicoManifest(version)
		case sourceRehearsal:
			src = calico.ReleaseManifestURL(releases.URL, version)
		default:
			src = calico.ReleaseManifestURL(calico.ReleaseHost, version)
		}
	}
	o := calico.ManifestOptions{PodSubnet: versions.PodSubnet, PodSubnetV6: versions.PodSubnetV6, Dataplane: dataplane(), BPFAttach: bpfAttach(), Family: calico.Family(*flagIPFamily)}
	switch {
	case upstreamNames():
		o.Version = version // the manifest must be that release's, its images named as published
	case viaRegistry():
		// A build's own tag (v3.28.5-b) under the upstream name.
		var err error
		if o.Images, err = versions.CalicoUpstreamImages(version); err != nil {
			return src, nil, err
		}
	default:
		o.Images = versions.CalicoImages(version) // the local names kind load copies
	}
	data, err := calico.LoadManifest(ctx, src, o)
	return src, data, err
}

// deliverCalico makes a Calico build's images available to the nodes: pushed to the
// registry under their upstream names (the nodes pull them when the pods start), or
// kind-loaded. Upstream images are the nodes' to pull (nil: nothing delivered).
func deliverCalico(ctx context.Context, version string) (*report.ImageDelivery, error) {
	if !builtHere() {
		return nil, nil
	}
	t0 := time.Now()
	if !viaRegistry() {
		if err := kindLoadCalico(ctx, version); err != nil {
			return nil, err
		}
		return &report.ImageDelivery{Version: version, KindLoad: true, Took: time.Since(t0)}, nil
	}
	up, layers, err := pushCalico(ctx, version)
	if err != nil {
		return nil, err
	}
	return &report.ImageDelivery{Version: version, Pushed: up, Layers: layers, Took: time.Since(t0)}, nil
}

// kindLoadCalico copies a build's three images, under their local names, into every node.
func kindLoadCalico(ctx context.Context, version string) error {
	for _, img := range sortedValues(versions.CalicoImages(version)) {
		if err := kindC.LoadImage(ctx, img); err != nil {
			return err
		}
	}
	return nil
}

// pushCalico pushes a build's three images under their upstream names.
func pushCalico(ctx context.Context, version string) ([]string, report.Layers, error) {
	var layers report.Layers
	local := versions.CalicoImages(version)
	upstream, err := versions.CalicoUpstreamImages(version)
	if err != nil {
		return nil, layers, err
	}
	var names []string
	for _, comp := range slices.Sorted(maps.Keys(local)) {
		p, err := registry.Push(ctx, local[comp], upstream[comp])
		if err != nil {
			return nil, layers, err
		}
		names = append(names, upstream[comp])
		layers.Sent, layers.Had = layers.Sent+p.Uploaded, layers.Had+p.Present
	}
	return names, layers, nil
}

// deliverStar makes the demo app's image available to every node.
func deliverStar(ctx context.Context) error { return deliverBuilt(ctx, versions.StarImage()) }

// deliverBuilt makes an image built here available under its name: pushed and pulled by
// every node through the mirror (a node that cannot pull fails here, naming itself,
// before any pod waits for it), or kind-loaded.
func deliverBuilt(ctx context.Context, image string) error {
	if _, err := docker.ImageID(ctx, image); err != nil {
		return fmt.Errorf("image %s is not in the local Docker engine (%w): run `make images` (with PEERS=1 for the peer suites' agnhost)", image, err)
	}
	if !viaRegistry() {
		return kindC.LoadImage(ctx, image)
	}
	if _, err := registry.Push(ctx, image, image); err != nil {
		return err
	}
	if err := kindC.Pull(ctx, image); err != nil {
		hint := ""
		if kindC.Reused() {
			hint = " (a reused cluster created without the registry mirror cannot use it: drop -reuse-cluster once)"
		}
		return fmt.Errorf("the nodes cannot pull %s through the local registry%s: %w", image, hint, err)
	}
	return nil
}

// measureDelivery times getting Calico A's and B's images onto every node both ways, each
// from nothing: kind load, then the registry (push, then every node pulls through the
// mirror). It removes them again, so the install pulls as a user's cluster does, and
// checks that no unpacked snapshot was left behind to speed up the next one.
func measureDelivery(ctx context.Context) error {
	if !*flagMeasureDelivery {
		return nil
	}
	if kindC.Reused() {
		fmt.Println("-measure-delivery: not measured on a reused cluster (its nodes hold what earlier runs put there)")
		return nil
	}
	rs := check.New("image-delivery", measureImages).Run(ctx)
	run.Steps = append(run.Steps, rs)
	fmt.Fprint(os.Stdout, rs.Text())
	if rs.Failed() {
		return errors.New(rs.Failure.String())
	}
	return nil
}

// measureImages measures each version's images onto nodes that hold none of them.
func measureImages(ctx context.Context, rs *report.Step) error {
	// The nodes settle first: kube-proxy's containers unpack their image as the workers
	// join, which would move the snapshot count the measurement checks itself against.
	k, err := kube.NewFromKubeconfig(kindC.Kubeconfig())
	if err != nil {
		return err
	}
	if err := k.WaitDaemonSet(ctx, 3*time.Minute, "kube-system", "kube-proxy"); err != nil {
		return err
	}
	base, err := kindC.Snapshots(ctx)
	for _, v := range calicoVersions() {
		if err != nil {
			break
		}
		var m *report.ImageMeasurement
		if m, err = measureVersion(ctx, v, base); err == nil {
			rs.ImageMeasurements = append(rs.ImageMeasurements, *m)
			run.Timings["calico "+v+" images onto the nodes"] = m.String()
		}
	}
	return err
}

// measureVersion measures one version's images (see measureDelivery); base is the nodes'
// snapshot count without them.
func measureVersion(ctx context.Context, v string, base int) (*report.ImageMeasurement, error) {
	up, err := versions.CalicoUpstreamImages(v)
	if err != nil {
		return nil, err
	}
	local, upstream := sortedValues(versions.CalicoImages(v)), sortedValues(up)
	removed := func(imgs []string) error {
		if err := kindC.RemoveImages(ctx, imgs...); err != nil {
			return err
		}
		n, err := kindC.Snapshots(ctx)
		if err == nil && n != base {
			err = fmt.Errorf("image delivery: %d snapshots in the nodes after removing %s, %d before: the next measurement would not start from nothing", n, strings.Join(imgs, ", "), base)
		}
		return err
	}
	if err := removed(append(local, upstream...)); err != nil {
		return nil, err
	}
	tk := time.Now()
	if err := kindLoadCalico(ctx, v); err != nil {
		return nil, err
	}
	kindLoad := time.Since(tk)
	if err := removed(local); err != nil {
		return nil, err
	}
	tp := time.Now()
	_, layers, err := pushCalico(ctx, v)
	if err != nil {
		return nil, err
	}
	push := time.Since(tp)
	tl := time.Now()
	if err := kindC.Pull(ctx, upstream...); err != nil {
		return nil, err
	}
	pull := time.Since(tl)
	if err := removed(upstream); err != nil {
		return nil, err
	}
	return &report.ImageMeasurement{Version: v, Nodes: 1 + *flagWorkers, KindLoad: kindLoad, Push: push, Pull: pull, Layers: layers}, nil
}

// sortedValues are a map's values in the order of its keys.
func sortedValues(m map[string]string) []string {
	var vs []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		vs = append(vs, m[k])
	}
	return vs
}
