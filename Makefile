# wt: mail to tickets, straight from the MTA.
#   make demo    build, then explain a sample message
#   make test    install what the tests need, build, run every test
#   make build   release binaries in .build/release/ (static Swift standard library)
#   make bench   throughput and delivery benchmarks against peers
#   make fuzz    libFuzzer on the message parser (FUZZ_SECONDS, default 600)

SWIFT ?= swift
RELEASE_FLAGS = -c release --static-swift-stdlib
SHARED ?= ../shared

.PHONY: all build demo test deps conformance bench bench-deps fuzz clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build $(RELEASE_FLAGS)

demo: build
	@echo "== wt-deliver --explain < examples/messages/welcome.eml"
	@.build/release/wt-deliver --explain < examples/messages/welcome.eml

test: build
	$(SWIFT) test --parallel
	@if [ -d $(SHARED)/corpus ]; then \
	  python3 scripts/conformance-gate.py --bin .build/release/wt-deliver --shared $(SHARED); \
	else echo "conformance: $(SHARED)/corpus not found, skipped"; fi

bench: build bench-deps
	python3 bench/bench.py

conformance: build
	python3 $(SHARED)/tools/conformance.py --bin .build/release/wt-deliver --show 100

clean:
	rm -rf .build
SUDO ?= $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: bench bench-deps

# GMime 3 headers for bench/gmime-parse.c; installed only when missing.
bench-deps:
	@pkg-config --exists gmime-3.0 2>/dev/null || { \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y libgmime-3.0-dev pkg-config; }

