# One entry point per job; README.md says what each does and how long it takes.
SHELL := /bin/bash
GO ?= go
UNIT_PKGS := $(shell $(GO) list ./... 2>/dev/null | grep -v /e2e)
E2E_FLAGS ?=
# E2E_RUN selects live tests (go test -run), e.g. E2E_RUN='TestProof|TestWorkshop';
# E2E_SKIP leaves some out (go test -skip), e.g. E2E_SKIP='TestWorkshop/06-control-pci-without-dns'.
E2E_RUN ?= .
E2E_SKIP ?=
BOOTSTRAP_FLAGS ?=
REPORT_DIR ?= $(CURDIR)/_report
# Pinned checkers, built from the Go module proxy once per version into the cache (outside
# the work tree): $NETPOL_CACHE/tools, else /var/cache/netpol-e2e/tools, else ~/.cache.
GOFUMPT := mvdan.cc/gofumpt@v0.12.0
GOLANGCI_VERSION := v2.15.0
ACTIONLINT_VERSION := v1.7.12
TOOLS := $(shell d=$${NETPOL_CACHE:-/var/cache/netpol-e2e}/tools; mkdir -p $$d 2>/dev/null && test -w $$d && echo $$d || echo $$HOME/.cache/netpol-e2e/tools)
GOLANGCI := $(TOOLS)/golangci-lint-$(GOLANGCI_VERSION)/golangci-lint
ACTIONLINT := $(TOOLS)/actionlint-$(ACTIONLINT_VERSION)/actionlint

.PHONY: test e2e images bootstrap verify fmt bench peers flags

## test: unit tests: no cluster, no Docker, seconds (and docs/flags.md against the flags).
test:
	$(GO) test -short -count=1 $(UNIT_PKGS)
	$(GO) test -short -count=1 -run '^TestFlagTable$$' ./e2e

## flags: regenerate docs/flags.md from the flag definitions (e2e/flags_test.go).
flags:
	$(GO) test -short -count=1 -run '^TestFlagTable$$' ./e2e -args -update-flag-table

## bootstrap: Docker engine, runc shim where needed, build tools, inotify limits (idempotent).
bootstrap:
	scripts/bootstrap-host.sh $(BOOTSTRAP_FLAGS)

## images: every image the default run needs, built here from Go modules, Debian packages
## and source archives (cached). CALICO_BUILDS=all adds every Calico release (the upgrade
## path), or name them: CALICO_BUILDS=v3.29.7,v3.30.7.
## PEERS=1 adds the peer suites (make peers).
CALICO_BUILDS ?=
PEERS ?=
images:
	$(GO) run ./cmd/imagebuild -repo . $(if $(CALICO_BUILDS),-calico-builds=$(CALICO_BUILDS)) $(if $(PEERS),-peers)

## e2e: the live suite on kind + Calico (docs/flags.md lists E2E_FLAGS). The test binary is run
## directly so that its exit status reaches the caller (go test turns every one into 1):
## 0 passed, 1 a test failed, 3 bad input (a flag, a variable, a data file), 4 no Docker engine.
E2E_TIMEOUT ?= 80m
e2e:
	$(GO) test -c -o bin/e2e.test ./e2e
	cd e2e && ../bin/e2e.test -test.count=1 -test.timeout $(E2E_TIMEOUT) -test.v -test.run '$(E2E_RUN)' -test.skip '$(E2E_SKIP)' -report-dir=$(REPORT_DIR) $(E2E_FLAGS)

## peers: the peer suites alone (TestPeers -peers) on the cluster e2e makes: the upstream
## Kubernetes Netpol specs and the network-policy-api conformance of the admin API the
## installed Calico enforces (v3.32: ClusterNetworkPolicy; v3.29-v3.31: ANP and BANP).
## Needs `make images PEERS=1`. With the workshop: make e2e E2E_FLAGS=-peers.
peers:
	$(MAKE) e2e E2E_RUN=TestPeers E2E_FLAGS='-peers $(E2E_FLAGS)'

## bench: the scale benchmark (N sources x 8 targets, N = 6,12,25,50; -bench-targets=50
## for the 2,500-cell round): round times, the harness's CPU and memory, a table in the
## report and bench.svg; and the enforcement-latency benchmark (1, 10 and 50 policies
## applied one after another, every cell timed at 100 ms). BENCH=Scale or Enforcement runs
## one. Not part of make e2e.
BENCH ?= Scale|Enforcement
bench:
	$(GO) test -count=1 -timeout 60m -v -run '^$$' -bench 'Benchmark($(BENCH))$$' -benchtime 1x ./e2e/... -args -report-dir=$(REPORT_DIR) $(E2E_FLAGS)

## verify: no tracked binaries or files over 1 MB, formatting (gofumpt), go vet, golangci-lint (.golangci.yml), shellcheck, actionlint.
verify: $(GOLANGCI) $(ACTIONLINT)
	scripts/check-tracked.sh
	@out=$$($(GO) run $(GOFUMPT) -l $$(git ls-files '*.go')); if [[ -n $$out ]]; then echo "gofumpt needed (make fmt):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI) run ./...
	shellcheck -x scripts/*.sh images/*.sh images/*/*.sh .ci/run
	$(ACTIONLINT) -shellcheck=$$(command -v shellcheck) .github/workflows/*.yml

$(GOLANGCI):
	GOBIN=$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

$(ACTIONLINT):
	GOBIN=$(dir $@) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

fmt:
	$(GO) run $(GOFUMPT) -w $$(git ls-files '*.go')
