GO      ?= go
BIN     := bin/grifork
PKGS    := ./...

.PHONY: all build test lint deps demo bench clean

all: build

deps:
	@scripts/deps.sh
	@$(GO) mod download

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/grifork

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^$$') 2>/dev/null); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: deps lint build
	$(GO) test -race -count=1 -timeout 12m $(PKGS)
	$(GO) test -run '^$$' -fuzz FuzzConvert -fuzztime 20s ./dsl/ruby
	$(GO) test -run '^$$' -fuzz FuzzNodeSet -fuzztime 20s ./nodeset
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 20s ./dsl

demo:
	@scripts/demo.sh

# Benchmarks, reported as ratios to a baseline of the same run (see "Benchmarks"
# in the README). The fleet ones need root: they skip without it (fail with CI=true).
# Other sizes: make bench BENCH_ARGS='-bench.hosts 48 -bench.rate 20 -bench.mib 4'
# BenchmarkScale (simulated fleets of 1k-100k hosts, no privileges, about 1-2 min):
#   make bench BENCH_ARGS='-scale.hosts 1000,10000 -scale.branches 4'
bench:
	$(GO) test -v -run '^$$' -bench . -benchtime 1x -timeout 20m ./bench $(if $(BENCH_ARGS),-args $(BENCH_ARGS))

clean:
	rm -rf bin
