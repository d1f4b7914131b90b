#!/usr/bin/env bash
# Builds a Rust filter: build.sh OUT.wasm [conf|bench]
#   conf   the conformance filter, crate conf-rust (src/, filters/CONFORMANCE.md)
#   bench  the minimal header-adding filter of bench/, crate bench-rust (bench/)
# Without the second argument: bench when OUT's name starts with bench_,
# else conf. Both crates are one workspace (Cargo.toml): one Cargo.lock, one
# target directory (cargo locks it, so two builds at once just take turns).
#
# Uses Debian bookworm's Rust (packages rustc, cargo, libstd-rust-dev-wasm32:
# rustc 1.63 with a wasm32-wasi std), called by absolute path because the
# rustup toolchain, which has no wasm32 std, comes first in PATH.
# Debian's cargo (1.65) reaches crates.io only through the sparse index (its
# default, the git index on github.com, is not reachable), which it still
# calls unstable: CARGO_UNSTABLE_SPARSE_REGISTRY=true switches it on.
# Cargo.lock pins every dependency to a version that builds with rustc 1.63;
# --locked keeps it that way.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUT.wasm [conf|bench]" >&2
  exit 2
fi
out=$1
case ${2:-$(basename "$out")} in
  bench|bench_*) crate=bench-rust ;;
  *) crate=conf-rust ;;
esac
here=$(cd "$(dirname "$0")" && pwd)

CARGO=${WASMGATE_RUST_CARGO:-/usr/bin/cargo}
RUSTC=${WASMGATE_RUST_RUSTC:-/usr/bin/rustc}
# Debian's rust-lld is a link to lld-14 (a Recommends of the wasm32 std, so
# install lld-14 by name); named here so no other rust-lld in PATH is taken.
LLD=${WASMGATE_RUST_LLD:-/usr/bin/rust-lld}
for tool in "$CARGO" "$RUSTC" "$LLD"; do
  if [ ! -x "$tool" ]; then
    echo "$0: $tool not found (apt-get install rustc cargo libstd-rust-dev-wasm32 lld-14)" >&2
    exit 1
  fi
done
if [ ! -d "$("$RUSTC" --print sysroot)/lib/rustlib/wasm32-wasi" ]; then
  echo "$0: $RUSTC has no wasm32-wasi std (apt-get install libstd-rust-dev-wasm32)" >&2
  exit 1
fi

target_dir=${CARGO_TARGET_DIR:-$here/target}

env -u RUSTFLAGS -u CARGO_BUILD_TARGET \
  RUSTC="$RUSTC" \
  CARGO_TARGET_WASM32_WASI_LINKER="$LLD" \
  CARGO_UNSTABLE_SPARSE_REGISTRY=true \
  CARGO_REGISTRIES_CRATES_IO_PROTOCOL=sparse \
  CARGO_TARGET_DIR="$target_dir" \
  "$CARGO" build --quiet --locked --release --target wasm32-wasi \
    --manifest-path "$here/Cargo.toml" -p "$crate"

mkdir -p "$(dirname "$out")"
cp "$target_dir/wasm32-wasi/release/${crate//-/_}.wasm" "$out"
