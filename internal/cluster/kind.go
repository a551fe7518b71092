package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cmd"

	"github.com/netpol-e2e/harness/internal/docker"
)

// DefaultNodeImage is kind's default node image: a tag and the digest of its published bytes.
const DefaultNodeImage = defaults.Image

// DefaultNodeTag is kind's default node image without its digest: the tag users get.
func DefaultNodeTag() string {
	tag, _, _ := strings.Cut(DefaultNodeImage, "@")
	return tag
}

// Options configure a cluster.
type Options struct {
	Name      string
	NodeImage string // "" = kind's default node image
	Workers   int
	PodSubnet string
	// KubeProxyMode is kube-proxy's mode ("" = kind's default, iptables; or nftables).
	KubeProxyMode string
	// Dual makes a dual-stack cluster: PodSubnetV6 and ServiceSubnets (IPv4,IPv6) too.
	Dual           bool
	PodSubnetV6    string
	ServiceSubnets string
	// ContainerdPatches are merged into every node's containerd configuration (a hosts
	// directory for the local registry mirror).
	ContainerdPatches []string
	// Reuse an existing cluster of that name instead of creating one.
	Reuse bool
	// Keep the cluster when Down is called.
	Keep bool
	// KubeconfigDir is where the kubeconfig file is written.
	KubeconfigDir string
	Log           io.Writer
}

// Kind is one kind cluster.
type Kind struct {
	opts       Options
	provider   *kindcluster.Provider
	kubeconfig string
	reused     bool
	// CreateTime is how long creation took (0 when reused).
	CreateTime time.Duration
}

// New prepares a cluster; nothing happens until Up.
func New(opts Options) *Kind {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	logger := cmd.NewLogger()
	return &Kind{
		opts: opts, provider: kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(logger)),
		kubeconfig: filepath.Join(opts.KubeconfigDir, "kubeconfig-"+opts.Name),
	}
}

// Kubeconfig is the path of the cluster's kubeconfig.
func (k *Kind) Kubeconfig() string { return k.kubeconfig }

// Name is the cluster's name.
func (k *Kind) Name() string { return k.opts.Name }

// Reused reports whether Up found an existing cluster.
func (k *Kind) Reused() bool { return k.reused }

// Config is the kind cluster configuration Up creates.
func (k *Kind) Config() *v1alpha4.Cluster {
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Nodes:    []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole}},
		Networking: v1alpha4.Networking{
			// Calico replaces kindnet; its IP pool is the podSubnet.
			DisableDefaultCNI: true,
			PodSubnet:         k.opts.PodSubnet,
			KubeProxyMode:     v1alpha4.ProxyMode(k.opts.KubeProxyMode),
		},
	}
	if k.opts.Dual {
		cfg.Networking.IPFamily = v1alpha4.DualStackFamily
		cfg.Networking.PodSubnet = k.opts.PodSubnet + "," + k.opts.PodSubnetV6
		cfg.Networking.ServiceSubnet = k.opts.ServiceSubnets
	}
	for range k.opts.Workers {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole})
	}
	cfg.ContainerdConfigPatches = k.opts.ContainerdPatches
	if docker.CgroupV1(context.Background()) {
		// kubelet >= 1.35 refuses cgroup v1 unless told otherwise.
		cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches,
			"kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nfailCgroupV1: false\n")
	}
	return cfg
}

// Exists reports whether a cluster of this name has nodes.
func (k *Kind) Exists() (bool, error) {
	names, err := k.provider.List()
	if err != nil {
		return false, fmt.Errorf("list kind clusters: %w", err)
	}
	return slices.Contains(names, k.opts.Name), nil
}

// Up creates the cluster (or reuses it) and writes its kubeconfig:
func (k *Kind) Up(ctx context.Context) error {
	if err := os.MkdirAll(k.opts.KubeconfigDir, 0o755); err != nil {
		return err
	}
	exists, err := k.Exists()
	if err != nil {
		return err
	}
	// Reuse: only export the kubeconfig.
	if exists && k.opts.Reuse {
		k.reused = true
		fmt.Fprintf(k.opts.Log, "reusing kind cluster %q\n", k.opts.Name)
		return k.provider.ExportKubeConfig(k.opts.Name, k.kubeconfig, false)
	}
	// A cluster of the same name left behind (a killed run, stopped containers after a
	// machine restart) is deleted first.
	if exists {
		fmt.Fprintf(k.opts.Log, "deleting leftover kind cluster %q\n", k.opts.Name)
		if err := k.provider.Delete(k.opts.Name, k.kubeconfig); err != nil {
			return fmt.Errorf("delete leftover cluster %s: %w", k.opts.Name, err)
		}
	}
	// Create, waiting for the control plane; nodes become Ready only once a CNI runs.
	opts := []kindcluster.CreateOption{
		kindcluster.CreateWithV1Alpha4Config(k.Config()),
		kindcluster.CreateWithKubeconfigPath(k.kubeconfig),
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	}
	if k.opts.NodeImage != "" {
		opts = append(opts, kindcluster.CreateWithNodeImage(k.opts.NodeImage))
	}
	t0 := time.Now()
	fmt.Fprintf(k.opts.Log, "creating kind cluster %q (1 control plane + %d workers, image %s)\n", k.opts.Name, k.opts.Workers, orDefault(k.opts.NodeImage, "kind default"))
	if err := k.provider.Create(k.opts.Name, opts...); err != nil {
		return fmt.Errorf("create kind cluster %s: %w", k.opts.Name, err)
	}
	k.CreateTime = time.Since(t0)
	fmt.Fprintf(k.opts.Log, "kind cluster %q created in %.0fs\n", k.opts.Name, k.CreateTime.Seconds())
	return ctx.Err()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Down deletes the cluster unless it is to be kept.
func (k *Kind) Down() error {
	if k.opts.Keep {
		fmt.Fprintf(k.opts.Log, "keeping kind cluster %q (kubeconfig %s)\n", k.opts.Name, k.kubeconfig)
		return nil
	}
	return k.Delete()
}

// Delete deletes the cluster whatever Keep says (Ctrl-C without keep).
func (k *Kind) Delete() error {
	fmt.Fprintf(k.opts.Log, "deleting kind cluster %q\n", k.opts.Name)
	return k.provider.Delete(k.opts.Name, k.kubeconfig)
}

// ExportLogs writes kind's logs (every node's journal, containers, pods) to dir.
func (k *Kind) ExportLogs(dir string) error {
	return k.provider.CollectLogs(k.opts.Name, dir)
}

// ConntrackUDPTimeout reads nf_conntrack_udp_timeout in a node (30s if it cannot).
func (k *Kind) ConntrackUDPTimeout(ctx context.Context) time.Duration {
	all, err := k.provider.ListInternalNodes(k.opts.Name)
	if err != nil || len(all) == 0 {
		return 30 * time.Second
	}
	var out strings.Builder
	if err := all[0].CommandContext(ctx, "cat", "/proc/sys/net/netfilter/nf_conntrack_udp_timeout").SetStdout(&out).Run(); err != nil {
		return 30 * time.Second
	}
	secs, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil || secs <= 0 {
		return 30 * time.Second
	}
	return time.Duration(secs) * time.Second
}

// Network is the Docker network kind puts nodes on.
const Network = "kind"
