# gitfleet — build, test, benchmark.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# make dist also stamps the commit and the build date (gitfleet version); the
# date is SOURCE_DATE_EPOCH's when it is set. Each is computed once.
COMMIT     := $(or $(COMMIT),$(shell git rev-parse HEAD 2>/dev/null),unknown)
BUILD_DATE := $(or $(BUILD_DATE),$(shell date -u $${SOURCE_DATE_EPOCH:+-d @$$SOURCE_DATE_EPOCH} +%Y-%m-%dT%H:%M:%SZ))
DIST_ARCH  ?= amd64,arm64

.PHONY: all build test fmt-check vet rules race bench run clean dist test-sops sops-fixtures

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/gitfleet ./cmd/gitfleet

# The test command of README.md and .ci/run: formatting, vet, the Prometheus
# rule tests, and every test with the race detector.
test: fmt-check vet rules race

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The alert and recording rules of examples/prometheus, with promtool's unit
# tests (Debian: prometheus). Without promtool they are skipped, unless CI=true.
rules:
	@if command -v promtool >/dev/null; then \
		promtool check rules examples/prometheus/rules.yml && promtool test rules examples/prometheus/tests.yml; \
	elif [ "$$CI" = true ]; then echo "promtool is needed for the rule tests (Debian: prometheus)"; exit 1; \
	else echo "promtool not found: rule tests skipped"; fi

race:
	$(GO) test -race -count=1 ./...

# The tests against the sops library (docs/secrets.md, "Testing against the
# sops library"): sops decrypts what the secrets package encrypts and rotates,
# and every committed fixture of secrets/testdata/sops. They live in the
# nested module internal/sopscompat, which ./... above does not enter: the
# library brings its cloud SDKs (about 200 MB of modules to fetch and build),
# so this target is not part of `make test` nor of CI. Run it when secrets/
# changes.
test-sops:
	cd internal/sopscompat && $(GO) vet ./... && $(GO) test -race -count=1 ./...

# Encrypts the fixtures of the secrets tests anew with the sops library, with
# new test keys; commit what it writes, then run test-sops and test.
sops-fixtures:
	cd internal/sopscompat && $(GO) run ./cmd/sopsfixtures -dir ../../secrets/testdata/sops

# Speed and memory targets are checked here, never by timed test assertions.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Release artifacts in dist/: for each of DIST_ARCH a tar.gz, a .deb and an
# .rpm (tools/dist, with nfpm), and SHA256SUMS; then the Docker image
# gitfleet:$(VERSION) when a Docker engine answers (docs/install.md).
dist:
	rm -rf dist
	$(GO) run ./tools/dist -version "$(VERSION)" -commit "$(COMMIT)" -date "$(BUILD_DATE)" -arch "$(DIST_ARCH)" -out dist
	@if command -v docker >/dev/null && docker info >/dev/null 2>&1; then \
		docker build -t gitfleet:$(VERSION) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg BUILD_DATE=$(BUILD_DATE) . ; \
	else echo "dist: no Docker engine answers (docker info): the image gitfleet:$(VERSION) was not built"; fi

run:
	$(GO) run ./cmd/gitfleet run --config examples/quickstart/gitfleet.yaml

clean:
	rm -rf bin dist examples/quickstart/state
