package imagebuild

import (
	"context"
	"os"
	"path/filepath"

	"github.com/netpol-e2e/harness/internal/versions"
)

// registryConfig is the registry's configuration: blobs and manifests on the filesystem
// under /var/lib/registry (a volume, so pushed images survive a restart), plain HTTP on
// :5000 (it is reached only on kind's network and on the host's loopback).
const registryConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: :5000
  secret: netpol-e2e-local-registry
`

// registryImage builds distribution's registry (the code of Docker's registry image)
// from the Go module proxy into a scratch image with its configuration.
func (b *Builder) registryImage(ctx context.Context) error {
	bin, err := b.goInstall(ctx, "registry-binary", false, "",
		"github.com/distribution/distribution/v3/cmd/registry@"+versions.Distribution)
	if err != nil {
		return err
	}
	key, err := b.key("registry-image", versions.Distribution, "file:"+filepath.Join(bin, "registry"), registryConfig)
	if err != nil {
		return err
	}
	tag := versions.RegistryImage()
	return b.imageStage(ctx, "registry-image", tag, key, func(ctxDir string) error {
		if err := copyFile(filepath.Join(bin, "registry"), filepath.Join(ctxDir, "registry"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(ctxDir, "config.yml"), []byte(registryConfig), 0o644); err != nil {
			return err
		}
		return b.dockerBuild(ctx, "registry-image", tag, key, ctxDir, `FROM scratch
COPY registry /bin/registry
COPY config.yml /etc/distribution/config.yml
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["/bin/registry"]
CMD ["serve", "/etc/distribution/config.yml"]
`)
	})
}
