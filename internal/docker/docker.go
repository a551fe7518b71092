// Package docker owns every call this project makes to the Docker engine: the docker CLI
// with its arguments, each error carrying the command and what it printed.
package docker

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Cmd is a docker command, for callers that stream, pipe or log it themselves (the image
// build's stage runner).
func Cmd(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "docker", args...)
}

// Output runs docker and returns its trimmed stdout.
func Output(ctx context.Context, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := Cmd(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Info is one field of `docker info` (a Go template such as {{.ServerVersion}}).
func Info(ctx context.Context, format string) (string, error) {
	return Output(ctx, "info", "--format", format)
}

// Answering fails, saying what to do, when no Docker engine answers.
func Answering(ctx context.Context) error {
	if _, err := Info(ctx, "{{.ServerVersion}}"); err != nil {
		return fmt.Errorf("no Docker engine answers (%w): run scripts/bootstrap-host.sh (make bootstrap)", err)
	}
	return nil
}

// CgroupV1 reports whether the engine runs on cgroup v1.
func CgroupV1(ctx context.Context) bool {
	v, err := Info(ctx, "{{.CgroupVersion}}")
	return err == nil && v == "1"
}

// ImageID is a local image's ID.
func ImageID(ctx context.Context, image string) (string, error) {
	return Output(ctx, "image", "inspect", "-f", "{{.Id}}", image)
}

// ImageLabel is one label of a local image ("" when the image or the label is missing).
func ImageLabel(ctx context.Context, image, label string) string {
	v, _ := Output(ctx, "image", "inspect", "-f", `{{index .Config.Labels "`+label+`"}}`, image)
	return v
}

// RemoveUntagged removes an image by ID when no tag names it any more (a build replaced it
// under its tag); an image still tagged or used by a container stays (no force).
func RemoveUntagged(ctx context.Context, id string) error {
	tags, err := Output(ctx, "image", "inspect", "-f", "{{len .RepoTags}}", id)
	if err != nil || strings.TrimSpace(tags) != "0" {
		return err
	}
	_, err = Output(ctx, "image", "rm", id)
	return err
}

// ContainerIP is a container's IPv4 address on a network.
func ContainerIP(ctx context.Context, container, network string) (string, error) {
	return Output(ctx, "inspect", "-f", `{{(index .NetworkSettings.Networks "`+network+`").IPAddress}}`, container)
}

// ContainerIPv6 is a container's IPv6 address on a network ("" when it has none).
func ContainerIPv6(ctx context.Context, container, network string) (string, error) {
	return Output(ctx, "inspect", "-f", `{{(index .NetworkSettings.Networks "`+network+`").GlobalIPv6Address}}`, container)
}

// Remove force-removes containers with their anonymous volumes (gone ones are fine).
func Remove(ctx context.Context, containers ...string) error {
	_, err := Output(ctx, append([]string{"rm", "-f", "-v"}, containers...)...)
	if err != nil && strings.Contains(err.Error(), "No such container") {
		return nil
	}
	return err
}

// Save writes images to a tar file.
func Save(ctx context.Context, path string, images ...string) error {
	_, err := Output(ctx, append([]string{"save", "-o", path}, images...)...)
	return err
}
