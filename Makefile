# One entry point per job; README.md says what each does and how long it takes.
SHELL := /bin/bash
GO ?= go
UNIT_PKGS := $(shell $(GO) list ./... 2>/dev/null | grep -v /e2e)
E2E_FLAGS ?=
REPORT_DIR ?= $(CURDIR)/_report
# Pinned checkers, fetched through the Go module proxy.
GOFUMPT := mvdan.cc/gofumpt@v0.12.0

.PHONY: test e2e images bootstrap verify fmt

## test: unit tests: no cluster, no Docker, seconds.
test:
	$(GO) test -short -count=1 $(UNIT_PKGS)

## bootstrap: Docker engine, runc shim where needed, build tools, inotify limits (idempotent).
bootstrap:
	scripts/bootstrap-host.sh

## images: every image, built here from Go modules and Debian packages (cached).
images:
	$(GO) run ./cmd/imagebuild -repo .

## e2e: the live suite on kind + Calico (see README for E2E_FLAGS).
e2e:
	$(GO) test -count=1 -timeout 80m -v ./e2e/... -args -report-dir=$(REPORT_DIR) $(E2E_FLAGS)

## verify: formatting (gofumpt), go vet, shellcheck.
verify:
	@out=$$($(GO) run $(GOFUMPT) -l $$(git ls-files '*.go')); if [[ -n $$out ]]; then echo "gofumpt needed (make fmt):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	shellcheck scripts/*.sh images/rootfs/*.sh .ci/run

fmt:
	$(GO) run $(GOFUMPT) -w $$(git ls-files '*.go')
