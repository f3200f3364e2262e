#!/usr/bin/env bash
# Installs dependencies, then builds and runs the whole test suite twice —
# a normal build and an AddressSanitizer + UndefinedBehaviorSanitizer build —
# plus a bounded libFuzzer run of every fuzz target.
#
#   ./scripts/test.sh                 everything
#   FUZZ_SECONDS=5 ./scripts/test.sh  shorter fuzzing (default 30 s a target)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

./scripts/deps.sh

run_suite() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dwerror=true "$@"
  else
    meson configure "$dir" -Dwerror=true "$@"
  fi
  ninja -C "$dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2
}

summary() {
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
ok = bad = skip = 0
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): ok += 1
        elif r == "SKIP": skip += 1
        else: bad += 1
print(f"{ok} passed, {bad} failed" + (f", {skip} skipped" if skip else ""))
PY
}

status=0
# The normal build also makes the API reference (gi-docgen, warnings fatal).
run_suite build -Ddocs=true || status=1

FUZZ_SECONDS=${FUZZ_SECONDS:-30} ./scripts/fuzz.sh || status=1

# UBSan findings abort the test; ASan's leak checker is on.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
# g-ir-scanner hangs running its dumper under ASan: the Python GI test runs in
# the normal build only.
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dintrospection=false || status=1

echo
summary build/meson-logs/testlog.json build-asan/meson-logs/testlog.json
exit $status
