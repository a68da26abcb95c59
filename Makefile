GO      ?= go
BIN     := bin/grifork
# No symbol table or DWARF (stack traces keep their names and lines): the
# binary a cold broadcast or grifork mode ships to every host is half the size
# compressed (about 5 MB against 9).
LDFLAGS := -s -w
PKGS    := ./...
# staticcheck 2026.2.2, the first release that reads Go 1.26 code; installed
# from the module proxy into GOPATH/bin by make deps (or make lint).
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: all build build-all test test-large lint deps staticcheck demo bench clean

all: build

deps: staticcheck
	@scripts/deps.sh
	@$(GO) mod download

staticcheck:
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION:v%=%))' || \
	  $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/grifork

# Griforks for the other platforms of a mixed fleet, beside bin/grifork, where
# grifork mode and the broadcast look for them (docs/modes.md, "Mixed fleets").
PLATFORMS ?= linux/amd64 linux/arm64
build-all: build
	@for p in $(PLATFORMS); do \
		echo "CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)-$${p%/*}-$${p#*/} ./cmd/grifork"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)-$${p%/*}-$${p#*/} ./cmd/grifork || exit 1; \
	done

# staticcheck's default checks, unused (U1000) among them; the tagged run sees
# the test hooks (node/testhook_on.go) that the e2e binary is built with.
lint: staticcheck
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^$$') 2>/dev/null); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) $(PKGS)
	$(STATICCHECK) -tags grifork_testhooks ./node

test: deps lint build
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -run '^$$' -fuzz FuzzConvert -fuzztime 20s ./dsl/ruby
	$(GO) test -run '^$$' -fuzz FuzzNodeSet -fuzztime 20s ./nodeset
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 20s ./dsl

# TestLarge200 (e2e/large_test.go): grifork mode end to end over 200 hosts, every
# host checked; opt-in, as it takes minutes and most of 2 cores. Holds the fleet
# benchmarks' lock, so it never shares the machine with one.
test-large: build
	flock /tmp/grifork-fleet-bench.lock env GRIFORK_TEST_LARGE=1 $(GO) test -count=1 -v -timeout 20m -run '^TestLarge200$$' ./e2e

demo:
	@scripts/demo.sh

# Benchmarks, reported as ratios to a baseline of the same run (see
# docs/benchmarks.md). The fleet ones need root: they skip without it (fail with CI=true).
# Other sizes: make bench BENCH_ARGS='-bench.hosts 48 -bench.rate 20 -bench.mib 4'
# BenchmarkScale (simulated fleets of 1k-100k hosts, no privileges, about 1-2 min):
#   make bench BENCH_ARGS='-scale.hosts 1000,10000 -scale.branches 4'
# BenchmarkBroadcastLarge (48 hosts at 100 Mbit/s, warm and cold) runs by default;
# BenchmarkLarge (200 unshaped hosts, both modes, time per generation) runs with
# BENCH_ARGS='-bench.all' or '-bench.large 200'. make bench must take under 15 minutes
# on the 2-core VM; BENCH_ARGS='-bench.all' adds the scenarios left out for that (see -bench.all in bench/main_test.go).
bench:
	$(GO) test -v -run '^$$' -bench . -benchtime 1x -timeout 20m ./bench $(if $(BENCH_ARGS),-args $(BENCH_ARGS))

clean:
	rm -rf bin
