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

DEMO_DB = .build/demo/wt.db

demo: build
	@rm -rf .build/demo && mkdir -p .build/demo
	@echo "== wt-admin init --db $(DEMO_DB)"
	@.build/release/wt-admin init --db $(DEMO_DB)
	@echo
	@echo "== wt-deliver --explain < examples/messages/welcome.eml   (a dry run: what wt-deliver reads)"
	@.build/release/wt-deliver --explain < examples/messages/welcome.eml
	@echo "== wt-deliver --db $(DEMO_DB) -f ana.ruiz@example.org -- helpdesk@example.com < examples/messages/welcome.eml"
	@.build/release/wt-deliver --db $(DEMO_DB) -f ana.ruiz@example.org -- helpdesk@example.com < examples/messages/welcome.eml; \
	  echo "exit status $$? (0: stored)"
	@echo
	@echo "== wt-admin tickets list --db $(DEMO_DB)"
	@.build/release/wt-admin tickets list --db $(DEMO_DB)
	@echo
	@echo "== wt-admin ticket show 1 --db $(DEMO_DB)"
	@.build/release/wt-admin ticket show 1 --db $(DEMO_DB)

test: build
	$(SWIFT) test --parallel
	rm -f integration/out/figures.txt
	cd integration && python3 -m pytest -q -p no:cacheprovider .
	@cat integration/out/figures.txt 2>/dev/null || true
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

