#!/bin/sh
# Builds a C++ filter: filters/cpp/build.sh OUT.wasm [conf|bench]
#   conf   the conformance filter, conf_cpp.cc (filters/CONFORMANCE.md)
#   bench  the minimal header-adding filter of bench/, bench_cpp.cc
# Without the second argument: bench when OUT's name starts with bench_,
# else conf.
# clang++-19 with libc++ for wasm32-wasi (Debian: libc++-19-dev-wasm32,
# libc++abi-19-dev-wasm32, libclang-rt-19-dev-wasm32, wasi-libc), as a WASI
# reactor (_initialize runs the static constructors that register the
# contexts). The module exports only what carries an export name in the SDK
# (memory, _initialize, the ABI marker, the allocator and the proxy_on_*
# callbacks); host functions are imports from "env" by their import names.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT.wasm [conf|bench]}
case ${2:-$(basename "$out")} in
  bench|bench_*) src=$here/bench_cpp.cc ;;
  conf|*) src=$here/conf_cpp.cc ;;
esac
exec "${WASM_CXX:-clang++-19}" --target=wasm32-wasi -mexec-model=reactor -std=c++20 -O2 \
  -fno-exceptions -fno-rtti -Wall -Wextra -Werror \
  -flto -I"$here/../../sdk" -Wl,--strip-debug \
  -o "$out" "$src"
