# gitfleet — build, test, benchmark.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test fmt-check vet rules race bench run clean

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

# Speed and memory targets are checked here, never by timed test assertions.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

run:
	$(GO) run ./cmd/gitfleet run --config examples/quickstart/gitfleet.yaml

clean:
	rm -rf bin examples/quickstart/state
