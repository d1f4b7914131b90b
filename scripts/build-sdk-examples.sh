#!/usr/bin/env bash
# Builds the Proxy-Wasm SDKs' own HTTP examples for tests/sdk_examples/:
#   scripts/build-sdk-examples.sh [OUT_DIR]      (default: build/sdk-examples)
#
# The examples are never part of this repository: each SDK is a checkout
# named by an environment variable (see docs/sdk-examples.md):
#   PROXY_WASM_GO_SDK    github.com/proxy-wasm/proxy-wasm-go-sdk
#   PROXY_WASM_RUST_SDK  github.com/proxy-wasm/proxy-wasm-rust-sdk
#   PROXY_WASM_CPP_SDK   github.com/proxy-wasm/proxy-wasm-cpp-sdk
#   PROXY_WASM_AS_SDK    github.com/solo-io/proxy-runtime
# An SDK whose variable is unset is skipped (one line says so). Each example
# becomes OUT_DIR/SDK/EXAMPLE/SDK_EXAMPLE.wasm: a directory per example,
# because a gateway compiles every module of its --filters-dir at start.
# A module newer than every source file of its example is not rebuilt.
# One line per example: "built", "up to date", or "FAILED" (with the
# compiler's output in the module's path + .log); the exit status is 0
# unless an example failed to build.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/build/sdk-examples}
case $out in /*) ;; *) out=$PWD/$out ;; esac
mkdir -p "$out"
failed=0
# At most JOBS compiler processes (the machine may be shared).
jobs=${JOBS:-2}

# The example lists: the HTTP examples only (the L4 ones wait for stream
# routes, see docs/sdk-examples.md).
GO_EXAMPLES="dispatch_call_on_tick foreign_call_on_tick helloworld http_auth_random http_body
  http_body_chunk http_headers http_routing json_validation metrics multiple_dispatches
  postpone_requests properties shared_data shared_queue vm_plugin_configuration"
RUST_EXAMPLES="hello_world http_auth_random http_body http_config http_headers"
CPP_EXAMPLES="http_wasm_example http_proto_example"
AS_EXAMPLES="addheader auth remove-headers singleton"

# up_to_date WASM DIR: WASM exists and no file under DIR is newer.
up_to_date() {
  [ -f "$1" ] && [ -z "$(find "$2" -newer "$1" -type f -not -path '*/target/*' -not -path '*/node_modules/*' \
    -not -path '*/build/*' -print -quit)" ]
}

# build_one LABEL WASM SRC_DIR COMMAND...: runs COMMAND (which writes WASM)
# in SRC_DIR, logging to WASM.log.
build_one() {
  local label=$1 wasm=$2 src=$3
  shift 3
  local dir
  dir=$(dirname "$wasm")
  mkdir -p "$dir"
  if up_to_date "$wasm" "$src"; then
    echo "  $label: up to date"
    return
  fi
  if (cd "$src" && "$@") >"$wasm.log" 2>&1 && [ -s "$wasm" ]; then
    echo "  $label: built ($(stat -c %s "$wasm") bytes)"
  else
    rm -f "$wasm"
    echo "  $label: FAILED (see $wasm.log)"
    failed=1
  fi
}

skip_sdk() { echo "SKIP $1 SDK: $2 is not set (the path of a $3 checkout)"; }

# Go: upstream Go >= 1.24, a WASI reactor. Each example is its own module
# with a replace directive onto the checkout; its dependencies come from the
# Go module proxy on first use.
build_go() {
  local sdk
  sdk=$(cd "$PROXY_WASM_GO_SDK" && pwd) || { echo "  PROXY_WASM_GO_SDK=$PROXY_WASM_GO_SDK: no such directory"; failed=1; return; }
  echo "Go SDK ($sdk)"
  local go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
  for ex in $GO_EXAMPLES; do
    # shared_queue is two modules (sender, receiver) of one Go module.
    local pkgs=.
    [ -f "$sdk/examples/$ex/main.go" ] || pkgs=$(cd "$sdk/examples/$ex" && ls -d */ | tr -d /)
    for pkg in $pkgs; do
      local name=go_$ex label=go/$ex
      [ "$pkg" = . ] || { name=${name}_$pkg; label=$label/$pkg; }
      build_one "$label" "$out/go/$ex/$name.wasm" "$sdk/examples/$ex" \
        env GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOTOOLCHAIN=local \
        "$go" build -p "$jobs" -buildmode=c-shared -trimpath -buildvcs=false -o "$out/go/$ex/$name.wasm" "./$pkg"
    done
  done
}

# Rust: the SDK's main branch needs rustc >= 1.85 (edition 2024), so the
# rustup toolchain with its wasm32-wasip1 std (`rustup target add
# wasm32-wasip1`), not Debian's rustc 1.63 that filters/rust uses. One
# target directory for all examples: the SDK crate is compiled once.
build_rust() {
  local sdk
  sdk=$(cd "$PROXY_WASM_RUST_SDK" && pwd) || { echo "  PROXY_WASM_RUST_SDK=$PROXY_WASM_RUST_SDK: no such directory"; failed=1; return; }
  echo "Rust SDK ($sdk)"
  local cargo=${WASMGATE_SDK_CARGO:-$HOME/.cargo/bin/cargo}
  [ -x "$cargo" ] || cargo=$(command -v cargo)
  local target=$out/rust/target
  for ex in $RUST_EXAMPLES; do
    build_one "rust/$ex" "$out/rust/$ex/rust_$ex.wasm" "$sdk/examples/$ex" \
      sh -c "env -u RUSTFLAGS CARGO_TARGET_DIR='$target' '$cargo' build --quiet --release -j $jobs \
               --target wasm32-wasip1 && \
             cp '$target'/wasm32-wasip1/release/proxy_wasm_example_${ex}.wasm '$out/rust/$ex/rust_$ex.wasm'"
  done
}

# C++: clang++-19 and wasi-libc instead of Emscripten (as filters/cpp), the
# SDK's intrinsics compiled in (PROTOBUF=none). The SDK marks its exports
# `used` only: wasm-ld exports a callback when asked by name.
build_cpp() {
  local sdk
  sdk=$(cd "$PROXY_WASM_CPP_SDK" && pwd) || { echo "  PROXY_WASM_CPP_SDK=$PROXY_WASM_CPP_SDK: no such directory"; failed=1; return; }
  echo "C++ SDK ($sdk)"
  local exports=(-Wl,--export=malloc)
  local name
  for name in $(grep -o 'proxy_abi_version_[0-9_]*\|proxy_on_[a-z_]*' "$sdk/proxy_wasm_intrinsics.cc" \
                  "$sdk/proxy_wasm_api.h" | cut -d: -f2 | sort -u); do
    exports+=("-Wl,--export-if-defined=$name")
  done
  for ex in $CPP_EXAMPLES; do
    build_one "cpp/$ex" "$out/cpp/$ex/cpp_$ex.wasm" "$sdk/example" \
      "${WASM_CXX:-clang++-19}" --target=wasm32-wasi -mexec-model=reactor -std=c++17 -O2 -flto \
      -fno-exceptions -I"$sdk" "$sdk/proxy_wasm_intrinsics.cc" "$ex.cc" \
      -Wl,--allow-undefined "${exports[@]}" -Wl,--strip-all -o "$out/cpp/$ex/cpp_$ex.wasm"
  done
}

# AssemblyScript: @solo-io/proxy-runtime's examples import the runtime by
# package name. They are compiled with the assemblyscript their
# package-lock.json names (0.21.3, from npm once into OUT_DIR/as/tool) and
# the checkout's runtime, found through --path (a node_modules-like folder
# whose @solo-io/proxy-runtime is a link to the checkout), not npm's.
AS_VERSION=0.21.3
build_as() {
  local sdk
  sdk=$(cd "$PROXY_WASM_AS_SDK" && pwd) || { echo "  PROXY_WASM_AS_SDK=$PROXY_WASM_AS_SDK: no such directory"; failed=1; return; }
  echo "AssemblyScript SDK ($sdk)"
  local tool=$out/as/tool
  if [ ! -x "$tool/node_modules/.bin/asc" ]; then
    mkdir -p "$tool"
    npm install --prefix "$tool" --no-save --no-audit --no-fund --loglevel=error \
      "assemblyscript@$AS_VERSION" >"$out/as/npm.log" 2>&1 ||
      { echo "  npm install assemblyscript@$AS_VERSION failed (see $out/as/npm.log)"; failed=1; return; }
  fi
  mkdir -p "$out/as/path/@solo-io"
  ln -sfn "$sdk" "$out/as/path/@solo-io/proxy-runtime"
  for ex in $AS_EXAMPLES; do
    build_one "as/$ex" "$out/as/$ex/as_${ex//-/_}.wasm" "$sdk/examples/$ex" \
      "$tool/node_modules/.bin/asc" assembly/index.ts --path "$out/as/path" --use abort=abort_proc_exit \
      -O3 -o "$out/as/$ex/as_${ex//-/_}.wasm"
  done
}

if [ -n "${PROXY_WASM_GO_SDK:-}" ]; then build_go; else skip_sdk Go PROXY_WASM_GO_SDK proxy-wasm-go-sdk; fi
if [ -n "${PROXY_WASM_RUST_SDK:-}" ]; then build_rust; else skip_sdk Rust PROXY_WASM_RUST_SDK proxy-wasm-rust-sdk; fi
if [ -n "${PROXY_WASM_CPP_SDK:-}" ]; then build_cpp; else skip_sdk C++ PROXY_WASM_CPP_SDK proxy-wasm-cpp-sdk; fi
if [ -n "${PROXY_WASM_AS_SDK:-}" ]; then build_as; else skip_sdk AssemblyScript PROXY_WASM_AS_SDK proxy-runtime; fi
exit $failed
