#!/usr/bin/env bash
# Builds the Go conformance filter: build.sh OUT.wasm
#
# Standard Go (>= 1.24; the machine has /usr/local/go) for GOOS=wasip1
# GOARCH=wasm as a WASI reactor (-buildmode=c-shared). The Proxy-Wasm Go SDK
# has no tags: go.mod pins a pseudo-version and go.sum its hashes, which the
# go command fetches from the Go module proxy on first use.
# Reproducible: -trimpath, no VCS stamp, no build id, the local toolchain only.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT.wasm" >&2
  exit 2
fi
out=$1
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
  -ldflags='-buildid= -s -w' -o "$tmp" .
mv -f "$tmp" "$out"
