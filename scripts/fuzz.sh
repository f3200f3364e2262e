#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzzing/ with clang, AddressSanitizer
# and UBSan, and runs each for a bounded time on a scratch copy of its seed
# corpus (the source tree is never written to).  Exits non-zero, showing the
# failing input and how to reproduce it, if any target crashes, breaks one of
# its invariants, leaks or hangs.
#
#   scripts/fuzz.sh [SECONDS]     seconds per target (default $FUZZ_SECONDS, else 30)
#
# Environment: FUZZ_BUILD_DIR (default build-fuzz, relative to the source
# tree), FUZZ_TARGETS (default: all, e.g. "ticket node-id"; "quic" is among
# them when the quic transport is built, i.e. ngtcp2 was found).
set -euo pipefail

# All in a function, read whole before it runs: editing or updating the
# script during a long run cannot change what the run does.
main() {
  src=$(cd "$(dirname "$0")/.." && pwd)
  seconds=${1:-${FUZZ_SECONDS:-30}}
  dir=${FUZZ_BUILD_DIR:-$src/build-fuzz}
  read -r -a targets <<<"${FUZZ_TARGETS:-ticket node-id stream-header certificate yamux relay-message transfer-wire dns-message}"

  if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz: SECONDS must be a positive whole number, not '$seconds'" >&2
    return 2
  fi
  command -v clang >/dev/null || { echo "fuzz: clang is needed (apt-get install clang)" >&2; return 2; }

  # The library must be built by clang too (it is instrumented for coverage),
  # hence a build directory of its own.
  options=(-Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false
           -Dintrospection=false -Dtests=true)
  if [ ! -f "$dir/build.ninja" ]; then
    CC=clang meson setup "$dir" "$src" "${options[@]}"
  else
    if ! grep -q '^ *command = clang[-0-9]* ' "$dir/build.ninja"; then
      echo "fuzz: $dir was configured with another compiler than clang; remove it or set FUZZ_BUILD_DIR" >&2
      return 2
    fi
    meson configure "$dir" "${options[@]}" >/dev/null
  fi
  if [ -z "${FUZZ_TARGETS:-}" ] && ninja -C "$dir" -t query tests/fuzzing/fuzz-quic >/dev/null 2>&1; then
    targets+=(quic)
  fi
  ninja -C "$dir" "${targets[@]/#/tests/fuzzing/fuzz-}" "${targets[@]/#/tests/fuzzing/fuzz-replay-}"

  scratch=$(mktemp -d "${TMPDIR:-/tmp}/foctet-fuzz.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  artifacts=$dir/fuzz-artifacts
  mkdir -p "$artifacts"

  # A GLib critical is a bug too; GLib raises SIGTRAP for it, which ASan must
  # catch so that libFuzzer keeps the input.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:handle_sigtrap=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export G_DEBUG=fatal-criticals

  status=0
  for t in "${targets[@]}"; do
    corpus=$scratch/corpus-$t
    log=$scratch/$t.log
    fuzzer=$dir/tests/fuzzing/fuzz-$t
    args=(-max_total_time="$seconds" -timeout=10 -max_len=4096 -rss_limit_mb=2048
          -print_final_stats=1 -artifact_prefix="$scratch/$t-")
    [ -f "$src/tests/fuzzing/$t.dict" ] && args+=(-dict="$src/tests/fuzzing/$t.dict")

    mkdir -p "$corpus"
    cp "$src/tests/fuzzing/corpus/$t"/* "$corpus/"
    echo "fuzz: $t for ${seconds}s" >&2

    # libFuzzer stops by itself; the outer limit only guards against a hang
    # it cannot see (one outside an input, e.g. at start-up).
    rc=0
    timeout -k 10 $((seconds * 2 + 120)) "$fuzzer" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?

    if [ "$rc" -eq 0 ]; then
      runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
      cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
      echo "fuzz: $t: ${runs:-?} runs, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs, no failure" >&2
      continue
    fi

    status=1
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      echo "fuzz: $t HUNG (killed after $((seconds * 2 + 120))s)" >&2
    else
      echo "fuzz: $t FAILED (exit $rc)" >&2
    fi
    # The sanitizer, libFuzzer or GLib report: what broke and where.
    report=$(awk '/==[0-9]+==(ERROR|WARNING)|runtime error:|ERROR: libFuzzer|-CRITICAL \*\*|-ERROR \*\*/ { p = 1 }
                  /^Shadow bytes around/ { p = 0 }
                  p' "$log" | head -n 60)
    if [ -n "$report" ]; then
      printf '%s\n' "$report" >&2
      grep -q '^SUMMARY:' <<<"$report" || grep -E '^SUMMARY:' "$log" >&2 || true
    else
      tail -n 40 "$log" >&2
    fi
    for crash in "$scratch/$t"-*; do
      [ -e "$crash" ] || continue
      kept=$artifacts/$(basename "$crash")
      cp "$crash" "$kept"
      echo "fuzz: failing input ($(wc -c <"$kept") bytes), kept as $kept:" >&2
      od -A x -t x1z -v "$kept" | head -n 20 >&2
      echo "fuzz: reproduce with: $fuzzer $kept" >&2
      echo "fuzz:   or, in any build dir: tests/fuzzing/fuzz-replay-$t $kept" >&2
    done
    cp "$log" "$artifacts/$t.log"
    echo "fuzz: full log: $artifacts/$t.log" >&2
  done

  if [ "$status" -ne 0 ]; then
    echo "fuzz: FAILED" >&2
  else
    echo "fuzz: ${#targets[@]} target(s) ran ${seconds}s each without a failure" >&2
  fi
  return "$status"
}

main "$@"
