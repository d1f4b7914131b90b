#!/usr/bin/env bash
# Builds a Go filter: build.sh OUT.wasm [conf|bench]
#   conf   the conformance filter, package . (filters/CONFORMANCE.md)
#   bench  the minimal header-adding filter of bench/, package ./bench
# Without the second argument: bench when OUT's name starts with bench_,
# else conf. Both are main packages of the one module (go.mod, go.sum).
#
# Standard Go (>= 1.24; the machine has /usr/local/go) for GOOS=wasip1
# GOARCH=wasm as a WASI reactor (-buildmode=c-shared). The Proxy-Wasm Go SDK
# has no tags: go.mod pins a pseudo-version and go.sum its hashes, which the
# go command fetches from the Go module proxy on first use.
# Reproducible: -trimpath, no VCS stamp, no build id, the local toolchain only.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUT.wasm [conf|bench]" >&2
  exit 2
fi
out=$1
case ${2:-$(basename "$out")} in
  bench|bench_*) pkg=./bench ;;
  *) pkg=. ;;
esac
case $out in /*) ;; *) out=$PWD/$out ;; esac
mkdir -p "$(dirname "$out")"

cd "$(dirname "$0")"

GO=${GO:-}
if [ -z "$GO" ]; then
  if command -v go >/dev/null 2>&1; then GO=$(command -v go)
  elif [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go
  else echo "build.sh: no go command (need Go >= 1.24)" >&2; exit 1
  fi
fi

export GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0
export GOTOOLCHAIN=local   # never download another toolchain
export GOFLAGS=-mod=readonly  # go.sum is committed: never rewrite go.mod/go.sum

tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
"$GO" build -buildmode=c-shared -trimpath -buildvcs=false \
  -ldflags='-buildid= -s -w' -o "$tmp" "$pkg"
mv -f "$tmp" "$out"
