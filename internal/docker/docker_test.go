package docker

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeDocker puts a docker on PATH that prints its arguments, or fails like the engine
// does for a container that does not exist.
func fakeDocker(t *testing.T) {
	dir := t.TempDir()
	script := `#!/bin/sh
case "$*" in
  "rm -f -v gone") echo "Error: No such container: gone" >&2; exit 1 ;;
  "rm -f -v stuck") echo "Error: cannot remove: device busy" >&2; exit 1 ;;
esac
echo "  $*  "
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestCommandsAndErrors(t *testing.T) {
	fakeDocker(t)
	ctx := context.Background()
	out, err := ContainerIP(ctx, "ext", "kind")
	require.NoError(t, err)
	require.Equal(t, `inspect -f {{(index .NetworkSettings.Networks "kind").IPAddress}} ext`, out, "trimmed stdout")
	require.Equal(t, `image inspect -f {{index .Config.Labels "k"}} img`, ImageLabel(ctx, "img", "k"))
	require.NoError(t, Remove(ctx, "gone"), "a container already gone is fine")
	err = Remove(ctx, "stuck")
	require.ErrorContains(t, err, "docker rm -f -v stuck: exit status 1: Error: cannot remove: device busy", "the command and what it printed")
}

func TestNoEngine(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := Answering(context.Background())
	require.ErrorContains(t, err, "no Docker engine answers")
	require.ErrorContains(t, err, "run scripts/bootstrap-host.sh")
	require.False(t, CgroupV1(context.Background()))
}
