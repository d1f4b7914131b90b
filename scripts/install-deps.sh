#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the benchmarks need,
# only when one is missing (so a warm machine pays nothing).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libyaml-cpp-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev
  libssl-dev libpcre2-dev libc-ares-dev zlib1g-dev
  # HTTP/2: nghttp2 (the gRPC client of src/client/h2_*, the server session
  # src/http/h2_server); its clients nghttp and h2load for the HTTP/2 tests.
  libnghttp2-dev nghttp2-client
  # the database mode's embedded store (--database sqlite:PATH)
  libsqlite3-dev
  wasi-libc libclang-rt-19-dev-wasm32
  clang-19 libclang-rt-19-dev lld-19
  python3 python3-pytest python3-yaml curl
  # The TLS tests make their certificates with Python's cryptography package.
  python3-cryptography
  # The jwt tests sign their RS/PS/ES/EdDSA tokens with the openssl command.
  openssl
  # Lua plugins: LuaJIT (OpenResty's branch, found by pkg-config as luajit)
  # and lua-cjson (the `cjson` module, LuaJIT's 5.1 ABI).
  libluajit2-5.1-dev lua-cjson
  # rate-limiting's policy redis: its tests start a real redis-server
  # (`make redis` starts one for you).
  redis-server
  # The conformance filters of the other SDKs: C++ (libc++ for wasm32),
  # Rust (Debian's rustc 1.63 has the wasm32-wasi std; rust-lld is lld-14),
  # AssemblyScript (node and npm: Debian's, unless the machine has its own).
  libc++-19-dev-wasm32 libc++abi-19-dev-wasm32
  rustc cargo libstd-rust-dev-wasm32 lld-14
)
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)
# The Go SDK needs Go >= 1.24 (wasip1 c-shared), newer than Debian 12's: the
# machine's own Go (/usr/local/go) is used; filters/go/build.sh says so if absent.
# Only the benchmark needs these; `make bench` passes --bench.
if [[ "${1:-}" == "--bench" ]]; then
  # libnginx-mod-http-lua: nginx + Lua for the Wasm filter comparison (Debian 12's
  # nginx-light is a transitional package for nginx, which loads the module).
  PACKAGES+=(wrk nginx-light haproxy valgrind libnginx-mod-http-lua strace procps)
fi

# `make sdk-examples` with PROXY_WASM_RUST_SDK: the Rust SDK's main branch
# needs rustc >= 1.85 (newer than Debian's), so rustup's toolchain with its
# wasm32-wasip1 std (docs/sdk-examples.md); the build script says so if absent.
if [[ -n "${PROXY_WASM_RUST_SDK:-}" ]] && command -v rustup >/dev/null 2>&1 &&
   ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1
fi

# The gRPC callout tests run a real gRPC server (grpcio). Debian's package
# serves Debian's python3; a python3 of its own (pyenv, a venv) gets PyPI's.
PACKAGES+=(python3-grpcio)
if ! python3 -c 'import grpc' >/dev/null 2>&1 && [[ "$(command -v python3)" != /usr/bin/python3 ]]; then
  python3 -m pip install -q grpcio
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

