package mirror

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/netpol-e2e/harness/internal/docker"
	"github.com/netpol-e2e/harness/internal/httpget"
)

// port is the registry's port inside its container (and on kind's network).
const port = 5000

// Registry is the local registry: a container of distribution's registry on kind's
// network, its storage on a named volume, published on the host's loopback for pushes.
type Registry struct {
	// Container is the container's name, also its host name on the network.
	Container string
	// Volume is the named volume holding blobs and manifests (kept when the container
	// is replaced or stopped, so pushed images survive).
	Volume string
	// Image is the registry's image (built by `make images`).
	Image string
	// Network is kind's Docker network.
	Network string
	// HostPort is the port published on 127.0.0.1 (pushes go there).
	HostPort int
	// Ready is how long Up waits for the registry to answer (30s when zero).
	Ready time.Duration
}

// MirrorURL is the registry as the nodes reach it on kind's network.
func (r *Registry) MirrorURL() string { return fmt.Sprintf("http://%s:%d", r.Container, port) }

// pushHost is the registry as the Docker engine reaches it (loopback: no TLS needed).
func (r *Registry) pushHost() string { return "127.0.0.1:" + strconv.Itoa(r.HostPort) }

// state is what `docker inspect` says of an existing registry container.
type state struct {
	running  bool
	image    string
	networks []string
	binding  string
}

const inspectFormat = `{{.State.Running}}|{{.Image}}|{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}|{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIp}}:{{.HostPort}}{{end}}{{end}}`

func parseState(out string) (state, error) {
	f := strings.Split(out, "|")
	if len(f) != 4 {
		return state{}, fmt.Errorf("unexpected docker inspect output %q", out)
	}
	return state{running: f[0] == "true", image: f[1], networks: strings.Fields(f[2]), binding: f[3]}, nil
}

// Up makes the registry answer: the existing container when it runs the current image,
// published on HostPort and attached to the network (started if stopped); otherwise a new
// one on the same volume. It says which.
func (r *Registry) Up(ctx context.Context) (string, error) {
	want, err := docker.ImageID(ctx, r.Image)
	if err != nil {
		return "", fmt.Errorf("registry image %s is missing (%w): run `make images`", r.Image, err)
	}
	var what string
	out, err := docker.Output(ctx, "inspect", "-f", inspectFormat, r.Container)
	switch {
	case err != nil && strings.Contains(err.Error(), "No such"):
		what, err = "created", r.create(ctx)
	case err != nil:
		return "", err
	default:
		var st state
		if st, err = parseState(out); err != nil {
			return "", err
		}
		what, err = r.reuse(ctx, st, want)
	}
	if err != nil {
		return "", err
	}
	if err := r.waitReady(ctx); err != nil {
		return "", err
	}
	return what + " (volume " + r.Volume + ")", nil
}

// reuse keeps, starts or replaces an existing container.
func (r *Registry) reuse(ctx context.Context, st state, want string) (string, error) {
	binding := "127.0.0.1:" + strconv.Itoa(r.HostPort)
	if st.image != want || st.binding != binding || !slices.Contains(st.networks, r.Network) {
		// Another build of the registry, another port, or off the network: replace the
		// container; the volume, and what was pushed, stay.
		if err := docker.Remove(ctx, r.Container); err != nil {
			return "", err
		}
		return "replaced (it ran another image, port or network)", r.create(ctx)
	}
	if st.running {
		return "reused (running)", nil
	}
	if _, err := docker.Output(ctx, "start", r.Container); err != nil {
		if err := docker.Remove(ctx, r.Container); err != nil {
			return "", err
		}
		return "replaced (it did not start)", r.create(ctx)
	}
	return "reused (started)", nil
}

func (r *Registry) create(ctx context.Context) error {
	_, err := docker.Output(ctx, "run", "-d", "--name", r.Container, "--network", r.Network,
		"-p", fmt.Sprintf("127.0.0.1:%d:%d", r.HostPort, port), "-v", r.Volume+":/var/lib/registry",
		"--label", "netpol-e2e=registry", r.Image)
	if err != nil {
		return fmt.Errorf("start the local registry: %w (is 127.0.0.1:%d taken? choose another with -registry-port)", err, r.HostPort)
	}
	return nil
}

// waitReady polls the registry's API root until it answers 200.
func (r *Registry) waitReady(ctx context.Context) error {
	budget := r.Ready
	if budget == 0 {
		budget = 30 * time.Second
	}
	deadline := time.Now().Add(budget)
	url := "http://" + r.pushHost() + "/v2/"
	var last error
	for time.Now().Before(deadline) {
		last = get(ctx, url)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	logs, _ := docker.Output(ctx, "logs", "--tail", "20", r.Container)
	return fmt.Errorf("local registry %s did not answer at %s within %s: %w; its log:\n%s", r.Container, url, budget, last, logs)
}

func get(ctx context.Context, url string) error {
	_, err := httpget.Read(ctx, url)
	return err
}

// Stop stops the container; it and its volume stay for the next run.
func (r *Registry) Stop(ctx context.Context) error {
	_, err := docker.Output(ctx, "stop", r.Container)
	if err != nil && strings.Contains(err.Error(), "No such container") {
		return nil
	}
	return err
}

// Pushed is what one push did.
type Pushed struct {
	Digest string // the manifest's digest in the registry
	// Uploaded and Present count the layers sent and those the registry already had.
	Uploaded, Present int
}

var (
	pushDigest  = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)
	pushedLayer = regexp.MustCompile(`(?m): Pushed$`)
	hadLayer    = regexp.MustCompile(`(?m): Layer already exists$`)
)

// parsePush reads `docker push` output.
func parsePush(out string) (Pushed, error) {
	m := pushDigest.FindStringSubmatch(out)
	if m == nil {
		return Pushed{}, fmt.Errorf("no digest in docker push output:\n%s", out)
	}
	return Pushed{Digest: m[1], Uploaded: len(pushedLayer.FindAllString(out, -1)), Present: len(hadLayer.FindAllString(out, -1))}, nil
}

// Push pushes a local image to the registry as ref (its upstream name: docker.io/calico/
// node:v3.29.7 is stored as calico/node:v3.29.7, where a node's pull of the upstream name
// asks the mirror for it). The temporary tag is removed again.
func (r *Registry) Push(ctx context.Context, local, ref string) (Pushed, error) {
	repo, err := RepoPath(ref)
	if err != nil {
		return Pushed{}, err
	}
	tag := r.pushHost() + "/" + repo
	if _, err := docker.Output(ctx, "tag", local, tag); err != nil {
		return Pushed{}, fmt.Errorf("%w (build it with `make images`)", err)
	}
	defer func() { _, _ = docker.Output(context.Background(), "rmi", tag) }()
	out, err := docker.Output(ctx, "push", tag)
	if err != nil {
		return Pushed{}, fmt.Errorf("push %s as %s: %w", local, ref, err)
	}
	return parsePush(out)
}
