#!/usr/bin/env bash
# Build Wasmtime's C API (wasm-engine/, crate wasmtime-c-api-impl) and install
#   <prefix>/lib/libwasmtime.a
#   <prefix>/lib/native-static-libs.txt   (system libs the archive needs)
#   <prefix>/include/{wasm.h,wasm.hh,wasi.h,wasmtime.h,wasmtime.hh,wasmtime/...}
# into a cache OUTSIDE the clone, keyed by version:
#   <prefix> = ${WASMGATE_CACHE:-/var/cache/wasmgate}/wasmtime-48.0.8
# A complete install is marked by <prefix>/.stamp, written last; when it is
# present and matches this checkout's crate (version, features, Cargo.toml,
# Cargo.lock, build.rs, src/lib.rs), the script prints <prefix> and exits 0
# at once. Cargo's target dir lives in <prefix>/target, so an interrupted
# build resumes where it stopped.
#
# stdout: exactly one line, the install prefix (progress goes to stderr), so
#   WASMTIME_DIR=$(scripts/build-wasmtime.sh)
# works. Exit status is non-zero on any failure.
#
# Environment:
#   WASMGATE_CACHE              cache root (default /var/cache/wasmgate)
#   WASMGATE_WASMTIME_FEATURES  extra cargo features of wasm-engine, comma
#                               separated (e.g. "cache"); part of the stamp
#   CARGO_BUILD_JOBS            cargo parallelism (default: cargo's, = cores)
# Options:
#   --force                     rebuild and reinstall even if the stamp matches
set -euo pipefail

VERSION=48.0.8
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRATE=$ROOT/wasm-engine
CACHE_ROOT=${WASMGATE_CACHE:-/var/cache/wasmgate}
PREFIX=$CACHE_ROOT/wasmtime-$VERSION
STAMP=$PREFIX/.stamp
FEATURES=${WASMGATE_WASMTIME_FEATURES:-}
FORCE=0

die() { echo "build-wasmtime: error: $*" >&2; exit 1; }
log() { echo "build-wasmtime: $*" >&2; }
trap 'rc=$?; [ $rc -eq 0 ] || echo "build-wasmtime: FAILED (exit $rc); log: ${BUILD_LOG:-none}" >&2' EXIT

for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (try --help)" ;;
  esac
done

[ -f "$CRATE/Cargo.toml" ] || die "$CRATE/Cargo.toml not found"

# What the stamp must say for the cached install to be reusable by this checkout.
expected_stamp() {
  echo "wasmtime-c-api-impl=$VERSION"
  echo "features=${FEATURES:-default}"
  (cd "$CRATE" && sha256sum Cargo.toml Cargo.lock build.rs src/lib.rs)
}

stamp_ok() {
  [ "$FORCE" = 0 ] && [ -f "$STAMP" ] \
    && [ -f "$PREFIX/lib/libwasmtime.a" ] && [ -f "$PREFIX/include/wasmtime.h" ] \
    && [ "$(sed '/^#/d' "$STAMP")" = "$(expected_stamp)" ]
}

# Fast path: nothing to do.
if stamp_ok; then
  echo "$PREFIX"
  exit 0
fi

mkdir -p "$PREFIX" 2>/dev/null \
  || die "cannot create $PREFIX (set WASMGATE_CACHE to a writable directory, e.g. WASMGATE_CACHE=\$HOME/.cache/wasmgate)"
[ -w "$PREFIX" ] || die "$PREFIX is not writable (set WASMGATE_CACHE)"

# One build at a time per cache entry (two `make` runs, two clones).
exec 9>"$PREFIX.lock"
if ! flock -n 9; then
  log "another build of wasmtime-$VERSION is running; waiting for $PREFIX.lock"
  flock 9
fi
if stamp_ok; then   # the other build finished it
  echo "$PREFIX"
  exit 0
fi

command -v cargo >/dev/null || die "cargo not found (install Rust with rustup; rustc >= 1.95 is needed)"
command -v cmake >/dev/null || die "cmake not found (wasmtime-c-api-impl's build script runs cmake to install its headers)"
rustc_version=$(rustc --version)
log "building Wasmtime C API $VERSION (${FEATURES:-default features}) with $rustc_version"
log "target dir $PREFIX/target (resumable); this takes several minutes on a cold cache"

rm -f "$STAMP"
export CARGO_TARGET_DIR=$PREFIX/target
BUILD_LOG=$PREFIX/build.log
JSON=$PREFIX/cargo-messages.json

cargo_args=(rustc --release --locked --lib --manifest-path "$CRATE/Cargo.toml"
            --message-format=json-render-diagnostics)
[ -n "$FEATURES" ] && cargo_args+=(--features "$FEATURES")
# `-- --print native-static-libs` makes rustc report the system libraries the
# staticlib needs; only our (tiny) crate gets the extra flag.
cargo_args+=(-- --print native-static-libs)

start=$(date +%s)
set +e
nice -n 10 cargo "${cargo_args[@]}" 2>&1 >"$JSON" | tee "$BUILD_LOG" >&2
rc=${PIPESTATUS[0]}
set -e
[ $rc -eq 0 ] || die "cargo build failed (exit $rc)"
log "cargo finished in $(( $(date +%s) - start )) s"

# The archive, from cargo's artifact message for our crate.
archive=$(grep '"reason":"compiler-artifact"' "$JSON" | grep 'wasmgate-wasmtime' \
          | grep -o '"[^"]*libwasmgate_wasmtime\.a"' | tr -d '"' | head -n1 || true)
[ -n "$archive" ] && [ -f "$archive" ] || die "libwasmgate_wasmtime.a not found in cargo output ($JSON)"

# The headers, copied by wasm-engine/build.rs into its OUT_DIR/include.
out_dir=$(grep '"reason":"build-script-executed"' "$JSON" | grep 'wasmgate-wasmtime' \
          | grep -o '"out_dir":"[^"]*"' | sed 's/^"out_dir":"//; s/"$//' | head -n1 || true)
[ -n "$out_dir" ] && [ -d "$out_dir/include" ] || die "header directory not found (out_dir='$out_dir')"
for h in wasm.h wasi.h wasmtime.h wasmtime/conf.h; do
  [ -f "$out_dir/include/$h" ] || die "header $h missing from $out_dir/include"
done

# System libraries: "note: native-static-libs: -lgcc_s -lutil ..." on stderr.
native_libs=$(grep -o 'native-static-libs: .*' "$BUILD_LOG" | tail -n1 | sed 's/^native-static-libs: //' || true)
if [ -z "$native_libs" ]; then
  native_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
  log "warning: rustc did not report native-static-libs (fresh build?); using the Linux default: $native_libs"
fi

# Install into a staging dir, then swap it in, then write the stamp last.
staging=$PREFIX/.staging
rm -rf "$staging"
mkdir -p "$staging/lib"
cp "$archive" "$staging/lib/libwasmtime.a"
echo "$native_libs" >"$staging/lib/native-static-libs.txt"
cp -R "$out_dir/include" "$staging/include"
rm -rf "$PREFIX/lib" "$PREFIX/include"
mv "$staging/lib" "$PREFIX/lib"
mv "$staging/include" "$PREFIX/include"
rmdir "$staging"
{
  echo "# complete install of Wasmtime C API; written last by scripts/build-wasmtime.sh"
  echo "# built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $rustc_version from $CRATE"
  expected_stamp
} >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"

log "installed $(du -h "$PREFIX/lib/libwasmtime.a" | cut -f1) libwasmtime.a and $(find "$PREFIX/include" -type f | wc -l) headers"
echo "$PREFIX"
