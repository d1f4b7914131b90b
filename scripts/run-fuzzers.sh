#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, starting from the
# seeds in tests/fuzz/corpus/<target>/. New corpus entries go to a scratch
# directory, never into the repository. Fails if any target finds a crash.
set -euo pipefail
build=${1:?build dir}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for bin in "$build"/*_fuzz; do
  [[ -x "$bin" ]] || continue
  name=$(basename "$bin")
  mkdir -p "$scratch/$name"
  seeds="$root/tests/fuzz/corpus/$name"
  [[ -d "$seeds" ]] && cp -r "$seeds"/. "$scratch/$name/" 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$scratch/" "$scratch/$name" >"$scratch/$name.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -50 "$scratch/$name.log"; status=1
  else
    grep -E 'stat::number_of_executed_units' "$scratch/$name.log" | sed "s/^/fuzz: $name /" || true
  fi
done
exit $status
