# Two entry points for a fresh Debian/Ubuntu machine: `make run` and `make test`.
SHELL := /bin/bash
# grpcurl and helm come from `go install`.
export PATH := $(shell go env GOPATH 2>/dev/null)/bin:$(PATH)
NODE_BIN := node_modules/.bin

.PHONY: run test deps examples build test-deps clean monitor bench-observability bench bench-storage bench-store-memory bench-wire bench-files bench-messaging bench-compute bench-profile bench-idle chart-dashboards

deps: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The example WebAssembly modules for distributed computing (AssemblyScript), make-like.
examples: deps
	bash examples/compute/build.sh

build: deps examples
	$(NODE_BIN)/buf generate
	# Generated encoders write into one buffer, large bytes fields decode as views (rpc/wire.ts).
	node services/node/scripts/post-generate.mjs
	$(NODE_BIN)/tsc -p tsconfig.json
	# The node in one file, loaded by start.js through V8's code cache (start-up CPU).
	node services/node/scripts/bundle.mjs
	chmod +x dist/services/cli/src/main.js dist/services/node/src/main.js
	# `npx pastry` inside the repository runs this build.
	ln -sf ../../dist/services/cli/src/main.js $(NODE_BIN)/pastry

# A local ring of 8 nodes on the in-memory store, a short demo, then up until Ctrl-C.
run: build
	node dist/services/cli/src/main.js demo --nodes 8

test-deps:
	bash test/setup/ensure-test-tools.sh

# Each phase prints its time: build, the test tools (apt-get, go install), a type check of
# the tests and benchmarks (jest compiles them without one), jest, then a real single-node
# Kubernetes (make e2e: root and Linux; the Kubernetes build is cached outside the repository).
test:
	@bash test/setup/phase.sh build $(MAKE) --no-print-directory build
	@bash test/setup/phase.sh test-deps $(MAKE) --no-print-directory test-deps
	@bash test/setup/phase.sh typecheck $(NODE_BIN)/tsc -p tsconfig.test.json
	@bash test/setup/phase.sh jest $(NODE_BIN)/jest --ci --json --outputFile=.jest-results.json --testLocationInResults=false
	@bash test/setup/phase.sh e2e $(MAKE) --no-print-directory e2e
	@node -e 'const r=require("./.jest-results.json"); console.log(`tests: $${r.numPassedTests} passed, $${r.numFailedTests} failed`)'

# The chart's copy of the Grafana dashboards (a test fails when they differ).
chart-dashboards:
	rm -rf charts/pastry/dashboards && mkdir -p charts/pastry/dashboards && cp grafana/dashboards/*.json charts/pastry/dashboards/

# A local Prometheus (Debian's package) scraping every pod of the local ring, on 127.0.0.1:9090.
monitor: build
	bash test/setup/ensure-prometheus.sh
	node dist/services/cli/src/main.js monitor

# Throughput and CPU per request with tracing off, at 100% and at 1% sampling (rings side by side).
bench-observability: build
	$(NODE_BIN)/tsc -p bench/tsconfig.json
	node dist/bench/observability-overhead.js

clean:
	rm -rf dist services/node/src/gen .pastry

-include k8s/k8s.mk

# Benchmarks of the real system, side by side (not part of make test).
# Storage at scale on a local ring: STORAGE_ARGS="--objects 3000000 --storage redis" for the big run.
bench-storage: build
	$(NODE_BIN)/tsc -p bench/tsconfig.json
	node dist/bench/storage-scale.js $(STORAGE_ARGS)

# Bytes per stored object beyond its value, memory and Redis store.
bench-store-memory: build
	$(NODE_BIN)/tsc -p bench/tsconfig.json
	node --expose-gc dist/bench/store-memory.js $(STORE_MEMORY_ARGS)

# File sharing: a 1 GiB file on a 16-node ring beside the floor and kubo, and 16 downloaders at once.
# FILES_ARGS="--storage redis" for Redis sidecars, "--mib 256" for a shorter run.
# Protobuf encode/decode of a replica write as built (FlatWriter, views) beside the stock writer.
bench-wire: build
	$(NODE_BIN)/tsc -p bench/tsconfig.json
	node dist/bench/wire.js

bench-files: build
	$(NODE_BIN)/tsc -p bench/tsconfig.json
	bash bench/ensure-kubo.sh || echo "bench-files: kubo could not be built; its rows are left out" >&2
	node dist/bench/files.js $(FILES_ARGS)

# Messaging on a 16-node ring: publish-to-delivery latency, throughput and CPU per message beside a
# bare gRPC echo, and kill -9 churn checked for lost, duplicated or reordered messages.
# MESSAGING_ARGS="--quick" for a run of about 2 minutes.
bench-messaging: build
	$(NODE_BIN)/tsc -p bench/tsconfig.json
	node dist/bench/messaging.js $(MESSAGING_ARGS)

# Distributed computing on a 16-node ring: a 1 GiB text file's word count checked against wc -w and
# one process, parallel efficiency of a CPU-bound job, kill -9 churn, cost per empty unit, node RSS.
# COMPUTE_ARGS="--bytes 256m --skip-churn" for a shorter run.
bench-compute: build
	$(NODE_BIN)/tsc -p bench/tsconfig.json
	node dist/bench/compute.js $(COMPUTE_ARGS)

# Idle CPU per node over time (it falls for about ten minutes as V8 finishes compiling).
bench-idle: build
	$(NODE_BIN)/tsc -p bench/tsconfig.json
	node dist/bench/idle.js $(IDLE_ARGS)

# Flame graphs (docs/profile-*.svg) and self-time tables of a loaded entry node and root.
bench-profile: build
	node bench/profile.mjs --op get $(PROFILE_ARGS)
	node bench/profile.mjs --op put $(PROFILE_ARGS)

bench: build
	BENCH_NO_BUILD=1 bash bench/run.sh $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-wire
	$(MAKE) --no-print-directory bench-files
	$(MAKE) --no-print-directory bench-messaging
	$(MAKE) --no-print-directory bench-compute

include k8s/e2e.mk
