#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer + UBSan) and runs
# each for a bounded time on a scratch copy of its corpus.
#
#   ./scripts/fuzz.sh [SECONDS]     default 30 s a target (or $FUZZ_SECONDS)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-${FUZZ_SECONDS:-30}}
dir=build-fuzz
targets=(ticket node-id stream-header certificate)

if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzzing=true -Dintrospection=false \
    -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$dir" $(printf 'tests/fuzzing/fuzz-%s ' "${targets[@]}")

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  cp tests/fuzzing/corpus/"$t"/* "$scratch/$t/"
  echo "fuzz: $t for ${seconds}s" >&2
  if ! "$dir/tests/fuzzing/fuzz-$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
        -artifact_prefix="$scratch/$t-" "$scratch/$t" >"$scratch/$t.log" 2>&1; then
    echo "fuzz: $t FAILED" >&2
    tail -n 60 "$scratch/$t.log" >&2
    for crash in "$scratch/$t"-*; do
      [ -e "$crash" ] && { echo "fuzz: input $(basename "$crash"):" >&2; xxd "$crash" | head -n 20 >&2; }
    done
    status=1
  else
    grep -E 'DONE|^Done' "$scratch/$t.log" >&2 || true
  fi
done
exit $status
