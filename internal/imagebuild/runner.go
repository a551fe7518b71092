package imagebuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/netpol-e2e/harness/internal/docker"
)

// Builder runs the stages.
type Builder struct {
	// Repo is the repository root (recipes live under images/).
	Repo string
	// Cache is where outputs and logs are kept.
	Cache string
	// Out receives progress lines.
	Out io.Writer
	// CalicoBuilds are the Calico version strings to build (see CalicoBuildSource); the
	// first is preloaded in the node image.
	CalicoBuilds []string
	// Sources is the local sources directory searched first for source archives
	// ($NETPOL_SOURCES; see internal/versions.SourceArchive).
	Sources string
	// UpstreamOnly builds what upstream mode needs from here: the demo app's image and
	// the local registry's.
	UpstreamOnly bool
	// Peers also builds the peer suites (the upstream Netpol specs, the network-policy-api
	// conformance, agnhost): `make images PEERS=1`.
	Peers bool

	start time.Time
	built []string
}

func (b *Builder) logf(format string, args ...any) {
	fmt.Fprintf(b.Out, "[imagebuild %5.0fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// StageError names the failed stage, the command and the end of its output.
type StageError struct {
	Stage, Command, Log, Tail, Hint string
	Err                             error
}

func (e *StageError) Error() string {
	msg := fmt.Sprintf("stage %s: %s: %v", e.Stage, e.Command, e.Err)
	if e.Tail != "" {
		msg += "\n--- last lines of " + e.Log + " ---\n" + e.Tail
	}
	if e.Hint != "" {
		msg += "\nwhat to do: " + e.Hint
	}
	return msg
}

func (e *StageError) Unwrap() error { return e.Err }

// run executes a command, appending its output to the stage's log file.
func (b *Builder) run(ctx context.Context, stage, dir string, env []string, stdin io.Reader, name string, args ...string) error {
	return b.runCmd(stage, exec.CommandContext(ctx, name, args...), dir, env, stdin)
}

// docker runs a docker command as run does.
func (b *Builder) docker(ctx context.Context, stage, dir string, env []string, stdin io.Reader, args ...string) error {
	return b.runCmd(stage, docker.Cmd(ctx, args...), dir, env, stdin)
}

func (b *Builder) runCmd(stage string, cmd *exec.Cmd, dir string, env []string, stdin io.Reader) error {
	logPath := filepath.Join(b.Cache, "logs", stage+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	var tail tailBuffer
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	cmd.Stdout = io.MultiWriter(logf, &tail)
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	line := strings.Join(cmd.Args, " ")
	fmt.Fprintf(logf, "\n$ %s\n", line)
	if err := cmd.Run(); err != nil {
		if len(line) > 300 {
			line = line[:300] + "..."
		}
		return &StageError{Stage: stage, Command: line, Log: logPath, Tail: tail.String(), Err: err, Hint: hint(tail.String())}
	}
	return nil
}

// hint recognises the failures users can do something about.
func hint(out string) string {
	switch {
	case strings.Contains(out, "no space left on device"):
		return "the disk is full: free space under " + "/var/lib/docker and the cache dir, or set NETPOL_CACHE elsewhere"
	case strings.Contains(out, "go: ") && (strings.Contains(out, "reading https://") || strings.Contains(out, "dial tcp")):
		return "a Go module download failed: check that the Go module proxy (GOPROXY) is reachable"
	case strings.Contains(out, "Cannot connect to the Docker daemon"):
		return "no Docker engine answers: run scripts/bootstrap-host.sh"
	case strings.Contains(out, "Failed getting release file") || strings.Contains(out, "Couldn't download"):
		return "debootstrap could not reach the Debian mirror: set DEBIAN_MIRROR or fix /etc/apt/sources.list*"
	}
	return ""
}

type tailBuffer struct{ lines []string }

func (t *tailBuffer) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		t.lines = append(t.lines, l)
		if len(t.lines) > 25 {
			t.lines = t.lines[1:]
		}
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.Join(t.lines, "\n") }

// output runs a command and returns its trimmed stdout.
func output(ctx context.Context, name string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// key hashes its parts: versions, flags and the contents of recipe files or directories
// (given as "file:PATH").
func (b *Builder) key(parts ...string) (string, error) {
	h := sha256.New()
	for _, p := range parts {
		if path, ok := strings.CutPrefix(p, "file:"); ok {
			if err := hashPath(h, path); err != nil {
				return "", err
			}
			continue
		}
		_, _ = io.WriteString(h, p) // a hash.Hash never fails to write
		_, _ = h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func hashPath(w io.Writer, root string) error {
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recipe %s: %w", root, err)
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintf(w, "%s\x00%d\x00", rel, len(data))
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// dirStage runs fn into a fresh directory unless the output of that key exists already.
func (b *Builder) dirStage(name, key string, fn func(out string) error) (string, error) {
	out := filepath.Join(b.Cache, "stages", name+"-"+key)
	if _, err := os.Stat(filepath.Join(out, ".done")); err == nil {
		b.logf("%-28s cached (%s)", name, key)
		return out, nil
	}
	tmp := out + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	t0 := time.Now()
	b.logf("%-28s building (%s)...", name, key)
	if err := fn(tmp); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".done"), []byte(time.Now().UTC().Format(time.RFC3339)), 0o644); err != nil {
		return "", err
	}
	_ = os.RemoveAll(out)
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	b.logf("%-28s built in %.0fs", name, time.Since(t0).Seconds())
	b.built = append(b.built, name)
	return out, nil
}

// LabelKey is the image label holding a stage's key.
const LabelKey = "netpol-e2e.key"

// imageStage runs fn, in a fresh build-context directory, unless the image exists with
// that key in its label; fn must set the label (docker build --label, docker import/commit
// --change LABEL).
func (b *Builder) imageStage(ctx context.Context, name, tag, key string, fn func(ctxDir string) error) error {
	if imageKey(ctx, tag) == key {
		b.logf("%-28s cached (%s %s)", name, tag, key)
		return nil
	}
	t0 := time.Now()
	b.logf("%-28s building %s (%s)...", name, tag, key)
	old, _ := docker.ImageID(ctx, tag) // the image the build replaces under tag, if any
	ctxDir, err := os.MkdirTemp("", "netpol-img-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(ctxDir)
	if err := fn(ctxDir); err != nil {
		return err
	}
	if got := imageKey(ctx, tag); got != key {
		return &StageError{Stage: name, Command: "docker image inspect " + tag, Err: fmt.Errorf("image has key %q after the build, want %q", got, key)}
	}
	b.logf("%-28s built in %.0fs", name, time.Since(t0).Seconds())
	b.built = append(b.built, name)
	// The replaced image, untagged now, would stay on the disk (8.8 GB of them here after a
	// day of rebuilds, until the host bootstrap refused to start for want of space).
	if old != "" {
		if err := docker.RemoveUntagged(ctx, old); err != nil {
			b.logf("%-28s the image it replaced (%s) stays: %v", name, old, err)
		}
	}
	return nil
}

// dockerBuild builds a Dockerfile (given as text) with the legacy builder in a context dir.
func (b *Builder) dockerBuild(ctx context.Context, stage, tag, key, contextDir, dockerfile string) error {
	if err := os.WriteFile(filepath.Join(contextDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	return b.docker(ctx, stage, contextDir, []string{"DOCKER_BUILDKIT=0"}, nil,
		"build", "--label", LabelKey+"="+key, "-t", tag, ".")
}

// copyTree copies src into dst with normalised modes: directories 0755, files 0644, or
// 0755 where exec says so (the Go module cache stores everything read-only).
func copyTree(src, dst string, exec func(rel string) bool) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		mode := os.FileMode(0o644)
		if exec(rel) {
			mode = 0o755
		}
		return copyFile(p, target, mode)
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}
