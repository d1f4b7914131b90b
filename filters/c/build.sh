#!/bin/sh
# Builds one C filter exactly as CMake does (CMakeLists.txt, "Example and
# test filters in C"): filters/c/build.sh OUT.wasm [SRC.c]
# SRC defaults to filters/c/<basename of OUT>.c, e.g.
#   filters/c/build.sh /tmp/conf_c.wasm   builds filters/c/conf_c.c
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT.wasm [SRC.c]}
src=${2:-$here/$(basename "$out" .wasm).c}
exec "${WASM_CC:-clang-19}" --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Werror \
  -I"$here/../../sdk" -Wl,--allow-undefined -o "$out" "$src"
