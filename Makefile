# wt: mail to tickets, straight from the MTA.
#   make demo    build, then explain a sample message
#   make test    install what the tests need, build, run every test
#   make build   release binaries in .build/release/ (static Swift standard library)
#   make bench   throughput and delivery benchmarks against peers
#   make fuzz    libFuzzer on the message parser (FUZZ_SECONDS, default 600)

SWIFT ?= swift
# Fully static executables: a static binary starts in a third of the time (no dynamic
# linking of libstdc++ and the Swift runtime), which every delivery pays. glibc still loads
# its iconv modules at run time, so build on (a machine like) the one that runs it.
RELEASE_FLAGS = -c release --static-swift-stdlib -Xswiftc -static-executable
SHARED ?= ../shared

.PHONY: all build demo test deps conformance bench bench-deps fuzz clean

all: build

deps:
	@scripts/install-deps.sh

# wt-notify and wt-deliver-net (POP3 fetch mode) link the system libcurl, and they, wt-admin
# and wt-deliver-net the system libpq (a postgresql:// database). Neither links fully
# statically (OpenSSL, GSSAPI, LDAP...): these are built apart, with the static Swift
# standard library only, dynamically linked against the system's libraries, and copied
# beside wt-deliver. wt-deliver alone is fully static (SQLite, the per-message path: no
# dynamic loader at start-up) and loads neither; it execs wt-deliver-net for --pop, and
# wt-deliver-pg for a postgresql:// database. `ldd .build/release/wt-deliver` says "not a
# dynamic executable".
#
# wt-deliver-pg is wt-deliver with the PostgreSQL store, also fully static: libpq.a with
# OpenSSL's static libraries and libpq's own pgcommon and pgport (Debian's
# postgresql-server-dev-NN), GSSAPI and LDAP replaced by stubs that fail (Sources/CPostgresStatic).
# Loading the shared libpq and its 20-odd libraries took 5 ms of a 15 ms delivery.
NOTIFY_SCRATCH = .build-notify
PG_SCRATCH = .build-pg
PG_LIBDIR = $(shell ls -d /usr/lib/postgresql/*/lib 2>/dev/null | sort -V | tail -1)
PG_STATIC_FLAGS = -Xlinker -L$(PG_LIBDIR) -Xlinker -lpq -Xlinker -lpgcommon_shlib -Xlinker -lpgport_shlib \
	-Xlinker -lssl -Xlinker -lcrypto -Xlinker -lpthread

build: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product wt-deliver
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path $(NOTIFY_SCRATCH) --product wt-admin
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path $(NOTIFY_SCRATCH) --product wt-notify
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path $(NOTIFY_SCRATCH) --product wt-deliver-net
	cp $(NOTIFY_SCRATCH)/release/wt-admin $(NOTIFY_SCRATCH)/release/wt-notify $(NOTIFY_SCRATCH)/release/wt-deliver-net .build/release/
	$(SWIFT) build $(RELEASE_FLAGS) --scratch-path $(PG_SCRATCH) $(PG_STATIC_FLAGS) --product wt-deliver-pg
	cp $(PG_SCRATCH)/release/wt-deliver-pg .build/release/

DEMO_DB = .build/demo/wt.db

demo: build
	@rm -rf .build/demo && mkdir -p .build/demo
	@echo "== a new database, with the Web Tracks manual's example rule"
	.build/release/wt-admin init --db $(DEMO_DB)
	.build/release/wt-admin types add Network --db $(DEMO_DB)
	.build/release/wt-admin rules add "Internet Problem" --text Internet --type Network --priority High --order 2 --db $(DEMO_DB)
	@echo
	@echo "== wt-deliver --explain: a dry run of what delivery would do"
	@.build/release/wt-deliver --explain --db $(DEMO_DB) -- helpdesk@example.com < examples/messages/welcome.eml
	@echo "== wt-deliver, as Postfix runs it"
	.build/release/wt-deliver --db $(DEMO_DB) -f ana.ruiz@example.org -- helpdesk@example.com < examples/messages/welcome.eml; \
	  echo "exit status $$? (0: stored)"
	@echo
	.build/release/wt-admin tickets list --db $(DEMO_DB)
	@echo
	.build/release/wt-admin ticket show 1 --db $(DEMO_DB)

test: build
	@scripts/install-deps.sh test
	# One PostgreSQL server on loopback for the store's tests (WT_TEST_POSTGRES); see integration/pgserver.py.
	python3 integration/pgserver.py -- $(SWIFT) test --parallel
	@if [ -d $(SHARED)/corpus ]; then \
	  python3 scripts/conformance-gate.py --bin .build/release/wt-deliver --shared $(SHARED); \
	else echo "conformance: $(SHARED)/corpus not found, skipped"; fi
	cd integration && python3 -m pytest -q -p no:cacheprovider .

bench: build bench-deps
	python3 bench/bench.py

conformance: build
	python3 $(SHARED)/tools/conformance.py --bin .build/release/wt-deliver --show 100

# libFuzzer + AddressSanitizer (LeakSanitizer on) on the parser, built into .build-fuzz/ only.
# Debug assertions (unsafe-buffer bounds checks) and run-time exclusivity checks stay on in
# this optimized build. lld: gold crashes linking the sanitizer runtimes. See fuzz/README.md.
FUZZ_SECONDS ?= 600
FUZZ_SCRATCH ?= .build-fuzz
FUZZ_OUT ?= $(FUZZ_SCRATCH)/out
FUZZ_FLAGS ?=
FUZZ_BIN = $(FUZZ_SCRATCH)/release/wt-fuzz
FUZZ_BUILD_FLAGS = -c release --scratch-path $(FUZZ_SCRATCH) --product wt-fuzz \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -DWT_FUZZ \
	-Xswiftc -assert-config -Xswiftc Debug -Xswiftc -enforce-exclusivity=checked \
	-Xcc -fsanitize=fuzzer-no-link,address -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld

.PHONY: fuzz-build

fuzz-build:
	$(SWIFT) build $(FUZZ_BUILD_FLAGS)

# The job's log is $(FUZZ_OUT)/fuzz-0.log (libFuzzer's driver output: driver.log); crash-*,
# leak-*, timeout-* and oom-* land in $(FUZZ_OUT)/. Fails when the job stopped on a finding.
fuzz: fuzz-build
	@mkdir -p fuzz/corpus-run $(FUZZ_OUT)
	@echo "fuzzing for $(FUZZ_SECONDS) s; follow it with: tail -f $(FUZZ_OUT)/fuzz-0.log"
	cd $(FUZZ_OUT) && SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1 \
	  $(CURDIR)/$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	  -dict=$(CURDIR)/fuzz/mail.dict -detect_leaks=1 -print_final_stats=1 -jobs=1 -workers=1 \
	  -artifact_prefix=$(CURDIR)/$(FUZZ_OUT)/ $(FUZZ_FLAGS) $(CURDIR)/fuzz/corpus-run $(CURDIR)/fuzz/seeds $(abspath $(wildcard $(SHARED)/corpus)) \
	  > driver.log 2>&1; \
	  status=$$?; grep -a -E '^#[0-9]+.*cov:' fuzz-0.log | tail -n 2; \
	  grep -a -E '^stat::|ERROR|SUMMARY|Test unit written|deadly' fuzz-0.log | tail -n 30; \
	  ls -l $(CURDIR)/$(FUZZ_OUT) | grep -E 'crash-|leak-|timeout-|oom-' || echo "fuzz: no crash, leak, timeout or OOM saved"; \
	  exit $$status

clean:
	rm -rf .build $(NOTIFY_SCRATCH)
SUDO ?= $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: bench bench-deps

# GMime 3 headers for bench/gmime-parse.c, libpq and a PostgreSQL server for the postgres
# section; installed only when missing.
bench-deps:
	@missing=""; \
	pkg-config --exists gmime-3.0 2>/dev/null || missing="$$missing libgmime-3.0-dev pkg-config"; \
	echo '#include <sqlite3.h>' | cc -E - >/dev/null 2>&1 || missing="$$missing libsqlite3-dev"; \
	[ -x /usr/bin/time ] || missing="$$missing time"; \
	[ -f /usr/include/postgresql/libpq-fe.h ] || missing="$$missing libpq-dev"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	[ -x /usr/sbin/dovecot ] || missing="$$missing dovecot-core"; \
	[ -x /usr/lib/dovecot/pop3 ] || missing="$$missing dovecot-pop3d"; \
	command -v fetchmail >/dev/null 2>&1 || missing="$$missing fetchmail"; \
	[ -z "$$missing" ] || { $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; }

