#!/bin/sh
# Builds the AssemblyScript conformance filter: ./build.sh OUT.wasm
# (@solo-io/proxy-runtime 0.1.8 + assemblyscript 0.14.13, pinned in package-lock.json).
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT.wasm" >&2
  exit 2
fi
case "$1" in
  /*) out="$1" ;;
  *) out="$(pwd)/$1" ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

# npm ci only when node_modules is missing or was installed from another lockfile.
stamp=node_modules/.wasmgate-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -x node_modules/.bin/asc ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# abort=abort_proc_exit: the runtime's abort logs at critical level, then
# calls wasi_unstable.proc_exit(255).
node_modules/.bin/asc assembly/index.ts -b "$tmp" --use abort=abort_proc_exit --optimize
mv -f "$tmp" "$out"
