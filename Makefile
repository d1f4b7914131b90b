# Two commands for newcomers: `make run` and `make test`. Both install what is
# missing (Debian packages), build, and go.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
# 15 s per target in `make test`: 13 targets, and the whole run must stay
# under 45 minutes on a fresh 2-core machine (`make fuzz` runs 10 minutes each).
FUZZ_SECONDS ?= 15
JOBS       ?= $(shell nproc)
PYTHON     ?= $(shell python3 -c 'import pytest' >/dev/null 2>&1 && echo python3 || echo /usr/bin/python3)

# The Wasmtime C API: built once per machine into a cache outside the clone
# (a few minutes), found there afterwards. Recursive (=): only evaluated by
# the recipes that use it.
WASMTIME_DIR = $(shell ./scripts/build-wasmtime.sh)

.PHONY: deps wasmtime build run test unit integration sdk-examples fuzz fuzz-smoke fuzz-build asan test-asan bench redis clean

deps:
	@./scripts/install-deps.sh

wasmtime: deps
	@./scripts/build-wasmtime.sh >/dev/null

build: wasmtime
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWASMGATE_WASMTIME_DIR=$(WASMTIME_DIR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@echo
	@echo "wasmgate is starting on the demo config, seeded into the store $(BUILD)/demo.db on the first run"
	@echo "(rm it to start over). Try, from another shell:"
	@echo "  curl -i http://127.0.0.1:8000/demo/hello     # through the demo Wasm filter to the demo upstream on :8002"
	@echo "  curl -i http://127.0.0.1:8000/demo/wasm/deny # answered by the Wasm filter itself (403)"
	@echo "  curl -i http://127.0.0.1:8000/nope           # 404: no Route matched"
	@echo "  curl http://127.0.0.1:8001/metrics           # filter metrics and per-filter counters (Prometheus)"
	@echo "  curl http://127.0.0.1:8001/routes            # Kong's Admin API: the stored routes"
	@echo "  curl -X POST http://127.0.0.1:8001/services/demo/routes -d name=mine -d 'paths[]=/mine'"
	@echo "  curl -i http://127.0.0.1:8000/mine           # the new route, live at once (and after a restart)"
	@echo "Stop with Ctrl-C."
	@echo
	@./$(BUILD)/wasmgate start --database sqlite:$(BUILD)/demo.db

unit: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

integration: build
	@WASMGATE_BIN=$(CURDIR)/$(BUILD)/wasmgate $(PYTHON) -m pytest -q tests/integration

# The Proxy-Wasm SDKs' own examples through the gateway (docs/sdk-examples.md),
# from SDK checkouts named by PROXY_WASM_GO_SDK, PROXY_WASM_RUST_SDK,
# PROXY_WASM_CPP_SDK and PROXY_WASM_AS_SDK; an SDK not named is skipped
# (SKIP lines), so this passes on a machine without any checkout.
sdk-examples: build
	@JOBS=$(JOBS) ./scripts/build-sdk-examples.sh $(CURDIR)/$(BUILD)/sdk-examples
	@WASMGATE_BIN=$(CURDIR)/$(BUILD)/wasmgate WASMGATE_SDK_EXAMPLES_DIR=$(CURDIR)/$(BUILD)/sdk-examples \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/sdk_examples

fuzz-build: wasmtime
	@CXX=clang++-19 cmake -S . -B $(BUILD_FUZZ) -G Ninja -DWASMGATE_FUZZ=ON -DWASMGATE_TESTS=OFF \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWASMGATE_WASMTIME_DIR=$(WASMTIME_DIR) >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)

# Each fuzz target for FUZZ_SECONDS, from the seed corpus in tests/fuzz/corpus.
fuzz-smoke: fuzz-build
	@./scripts/run-fuzzers.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

fuzz:
	@$(MAKE) fuzz-smoke FUZZ_SECONDS=600

asan: wasmtime
	@cmake -S . -B $(BUILD_ASAN) -G Ninja -DWASMGATE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DWASMGATE_WASMTIME_DIR=$(WASMTIME_DIR) >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# The same unit and integration tests against the ASan/UBSan build.
test-asan: asan
	@ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS)
	@WASMGATE_BIN=$(CURDIR)/$(BUILD_ASAN)/wasmgate WASMGATE_SANITIZED=1 $(PYTHON) -m pytest -q tests/integration

test: unit integration sdk-examples test-asan fuzz-smoke

bench: build
	@./scripts/install-deps.sh --bench
	@bash bench/run.sh

# A throwaway Redis on 127.0.0.1:$(REDIS_PORT) for rate-limiting's policy
# redis (no persistence). Stop with Ctrl-C.
REDIS_PORT ?= 6379
redis: deps
	@redis-server --bind 127.0.0.1 --port $(REDIS_PORT) --save '' --appendonly no

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
