# Spool: `make run` serves ./spool with the demo workspace; `make test` runs every test.
SHELL := /bin/bash
SWIFT ?= swift
SPOOL_DIR ?= ./spool
BIN_DIR = $(shell $(SWIFT) build --show-bin-path)
# Release builds link the Swift runtime and Foundation into the binary: it runs on a machine
# without Swift, and each command starts in about half the time (no shared Swift libraries to load).
# Their link prints one notice that is the toolchain's, not Spool's: glibc's "the use of `mktemp'
# is dangerous", for a function inside the static Foundation library (Data+Writing).
RELEASE_BUILD = $(SWIFT) build -c release --static-swift-stdlib
RELEASE_BIN_DIR = $(shell $(RELEASE_BUILD) --show-bin-path)
APT_PACKAGES = libsqlite3-dev libcurl4-openssl-dev pkg-config

.PHONY: all deps build release run demo test soak test-servers measure-import-memory bench format lint clean

all: build

# Installs the C libraries the package links, via apt, when they are missing.
deps:
	@if ! pkg-config --exists sqlite3 libcurl 2>/dev/null; then \
		echo "installing $(APT_PACKAGES) (apt)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

build: deps
	$(SWIFT) build --product spool

# The binary to deploy: .build/release/spool; it needs libsqlite3 and libstdc++, and libcurl4
# for S3, HTTP blobs and SMTP.
release: deps
	$(RELEASE_BUILD) --product spool

# Builds, seeds the demo workspace if the database is empty, and serves $(SPOOL_DIR).
run: build
	@demo=$$($(BIN_DIR)/spool demo seed --spool $(SPOOL_DIR) | tr -d '\n '); \
	echo "demo workspace and user: $$demo"; \
	echo "in another shell: $(BIN_DIR)/spool send user/signed.up --spool $(SPOOL_DIR) --data '$$demo'"
	exec $(BIN_DIR)/spool serve --spool $(SPOOL_DIR)

# Seeds, imports 100,000 generated contacts, exports them, and prints where to look.
demo: build
	scripts/demo.sh $(BIN_DIR)/spool $(SPOOL_DIR) $${ROWS:-100000}

# Peak memory of `spool serve` importing 1,000,000 rows (the figure in the README).
measure-import-memory: deps
	$(RELEASE_BUILD) --product spool
	scripts/import-memory.sh $(RELEASE_BIN_DIR)/spool $${ROWS:-1000000}

# Spool against its peers (Huey on SQLite and on Redis, the sqlite3 CLI) in interleaved rounds;
# writes bench/results.md. BENCH_QUICK=1 for a quick try, BENCH_ROUNDS=N for more rounds.
bench: deps
	$(RELEASE_BUILD) --product spool
	$(RELEASE_BUILD) --product spool-bench
	bench/setup.sh
	bench/.venv/bin/python bench/bench.py --bin-dir "$(RELEASE_BIN_DIR)"

# Python servers the tests start on loopback (an SMTP sink, moto's S3).
test-servers:
	@python3 -c 'import aiosmtpd, moto.server' 2>/dev/null || \
		python3 -m pip install -q --disable-pip-version-check aiosmtpd 'moto[server]'

# Unit tests first; then each end-to-end suite in a process of its own, so suites that wait on
# the binary do not starve the cooperative threads (two on this machine) other tests need.
E2E_SUITES = ServeTests CommandTests ImportExportTests NetworkTests BackupTests CrashSoakTests BadInputTests DiskFaultTests \
	PowerLossTests

test: deps test-servers
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip SpoolEndToEndTests
	@for suite in $(E2E_SUITES); do \
		echo "== $$suite"; \
		SPOOL_BIN=$(BIN_DIR)/spool $(SWIFT) test --skip-build --filter "SpoolEndToEndTests.$$suite" || exit 1; \
	done

# The fault suites with their long profile; writes the tables in docs/faults/.
SOAK_SUITES = CrashSoakTests DiskFaultTests BadInputTests BackupTests PowerLossTests

soak: deps test-servers
	$(SWIFT) build --build-tests
	@for suite in $(SOAK_SUITES); do \
		echo "== $$suite"; \
		SPOOL_BIN=$(BIN_DIR)/spool SPOOL_WRITE_FAULT_TABLE=1 SPOOL_SOAK_KILLS=40 SPOOL_SOAK_EVENTS=1000 \
			SPOOL_SOAK_WORKERS_EVENTS=3000 SPOOL_SWEEP_POINTS=60 \
			SPOOL_POWERLOSS_POINTS=all SPOOL_POWERLOSS_SENDS=5 SPOOL_POWERLOSS_DRAWS=3 \
			$(SWIFT) test --skip-build --filter "SpoolEndToEndTests.$$suite" || exit 1; \
	done

format:
	$(SWIFT) format --in-place --recursive --configuration .swift-format Sources Tests Package.swift

lint:
	$(SWIFT) format lint --recursive --configuration .swift-format Sources Tests

clean:
	rm -rf .build
