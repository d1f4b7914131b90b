#!/bin/sh
# Builds an AssemblyScript filter: ./build.sh OUT.wasm [conf|bench]
# (@solo-io/proxy-runtime 0.1.8 + assemblyscript 0.14.13, pinned in package-lock.json).
#   conf   the conformance filter, assembly/index.ts (filters/CONFORMANCE.md)
#   bench  the minimal header-adding filter of bench/, assembly/bench.ts
# Without the second argument: bench when OUT's name starts with bench_,
# else conf.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUT.wasm [conf|bench]" >&2
  exit 2
fi
case ${2:-$(basename "$1")} in
  bench|bench_*) entry=assembly/bench.ts ;;
  *) entry=assembly/index.ts ;;
esac
case "$1" in
  /*) out="$1" ;;
  *) out="$(pwd)/$1" ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

# npm ci only when node_modules is missing or was installed from another
# lockfile; under a lock on package-lock.json, as CMake builds both filters
# of this folder at once (npm ci starts by deleting node_modules).
stamp=node_modules/.wasmgate-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
exec 9<package-lock.json
flock 9
if [ ! -x node_modules/.bin/asc ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
exec 9<&-

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# abort=abort_proc_exit: the runtime's abort logs at critical level, then
# calls wasi_unstable.proc_exit(255).
node_modules/.bin/asc "$entry" -b "$tmp" --use abort=abort_proc_exit --optimize
mv -f "$tmp" "$out"
# The runtime finds the root context by plugin_root_id: a filter registered
# under a name ships NAME.meta.json with that root_id (conf_as does).
meta="$here/$(basename "$out" .wasm).meta.json"
if [ -f "$meta" ]; then cp "$meta" "$(dirname "$out")/"; fi
