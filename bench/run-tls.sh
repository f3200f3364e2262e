#!/usr/bin/env bash
# run-tls.sh BUILDDIR: TLS throughput on loopback, one stream and eight,
# each direction, for three implementations side by side:
#   foctet   foctet-shell serve/perf over the tls transport (+ yamux)
#   Go       the reference peer, crypto/tls + hashicorp/yamux
#   GnuTLS   bench/tls-baseline, a bare GnuTLS TLS 1.3 stream per TCP connection
# and prints a Markdown table of Gbit/s (bytes × 8 / seconds / 10⁹).
#
# Environment:
#   BENCH_BYTES    bytes per stream, suffixes K M G (default 1G)
#   BENCH_RUNS     runs per cell; the median is shown (default 1)
#   BENCH_TIMEOUT  seconds one measurement may take (default 300)
#
# A part that is not built yet, or that fails, shows as "n/a"; why goes to
# stderr.  Progress goes to stderr, the table to stdout.

set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILDDIR" >&2
  exit 2
fi
builddir=$(cd "$1" && pwd)
bytes=${BENCH_BYTES:-1G}
runs=${BENCH_RUNS:-1}
limit=${BENCH_TIMEOUT:-300}

shell="$builddir/foctet-shell/foctet-shell"
plugin_dirs=("$builddir/plugins/transport-tls" "$builddir/plugins/mux-yamux")
go_peer="$builddir/tests/interop/foctet-go-peer"
baseline="$builddir/bench/tls-baseline"

# BYTES with a K/M/G suffix (powers of 1024), as the tools take it.
to_bytes () {
  local n=${1%[KkMmGg]} unit=1
  case $1 in
    *[Kk]) unit=1024 ;;
    *[Mm]) unit=$((1024 * 1024)) ;;
    *[Gg]) unit=$((1024 * 1024 * 1024)) ;;
  esac
  case $n in
    ''|*[!0-9]*) return 1 ;;
  esac
  echo $((n * unit))
}

if ! per_stream=$(to_bytes "$bytes") || [ "$per_stream" -eq 0 ]; then
  echo "$0: BENCH_BYTES: '$bytes' is not a byte count" >&2
  exit 2
fi
case $runs in ''|0|*[!0-9]*) echo "$0: BENCH_RUNS: '$runs' is not a count" >&2; exit 2 ;; esac
case $limit in ''|0|*[!0-9]*) echo "$0: BENCH_TIMEOUT: '$limit' is not a number of seconds" >&2; exit 2 ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/foctet-bench.XXXXXX") || exit 1
server_pids=()

stop_servers () {
  local pid
  for pid in "${server_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  # Give them 5 s to shut down cleanly, then kill what is left.
  for _ in $(seq 50); do
    local alive=0
    for pid in "${server_pids[@]}"; do
      kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${server_pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  server_pids=()
}

measuring_pid=

cleanup () {
  if [ -n "$measuring_pid" ]; then
    kill -TERM "$measuring_pid" 2>/dev/null
    wait "$measuring_pid" 2>/dev/null
  fi
  stop_servers
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

note () {
  echo "$*" >&2
}

# The value of KEY in the JSON object in FILE; jq if there is one.
json_get () {
  if command -v jq >/dev/null 2>&1; then
    jq -er --arg k "$2" '.[$k] // empty' "$1" 2>/dev/null
  else
    python3 - "$1" "$2" 2>/dev/null <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    value = json.loads(f.readline()).get(sys.argv[2])
if value is None:
    sys.exit(1)
print(value)
EOF
  fi
}

# start_server NAME COMMAND...: runs it in the background and waits (at
# most 30 s) for the ticket on its first stdout line; sets $ticket.
start_server () {
  local name=$1 out="$tmp/$1.out" err="$tmp/$1.err" pid
  shift
  ticket=
  # The servers must outlive every measurement, and no more.
  timeout -k 5 $((limit * 4 * runs + 120)) "$@" >"$out" 2>"$err" &
  pid=$!
  server_pids+=("$pid")
  for _ in $(seq 300); do
    if IFS= read -r ticket <"$out" && [ -n "$ticket" ]; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  ticket=
  note "$name: the server gave no ticket: $(tail -n 1 "$err" 2>/dev/null)"
  return 1
}

# run_once NAME CMD...: one measurement into $tmp/result.json, bounded by
# BENCH_TIMEOUT.
run_once () {
  local name=$1 status
  shift
  # In the background, so that a signal to this script is handled at once.
  timeout -k 5 "$limit" "$@" >"$tmp/result.json" 2>"$tmp/result.err" &
  measuring_pid=$!
  wait "$measuring_pid"
  status=$?
  measuring_pid=
  if [ $status -eq 124 ] || [ $status -eq 137 ]; then
    note "$name: no result within ${limit} s"
    return 1
  elif [ $status -ne 0 ]; then
    note "$name: failed (exit $status): $(tail -n 1 "$tmp/result.err")"
    return 1
  fi
}

# Gbit/s of a perf --json result in one direction, if it moved all the bytes.
perf_gbits () {
  local direction=$1 expected=$2 moved seconds
  moved=$(json_get "$tmp/result.json" "${direction}_bytes") || return 1
  seconds=$(json_get "$tmp/result.json" "${direction}_seconds") || return 1
  awk -v b="$moved" -v s="$seconds" -v e="$expected" \
    'BEGIN { if (b != e || s <= 0) exit 1; printf "%.3f\n", b * 8 / s / 1e9 }'
}

baseline_gbits () {
  local expected=$1 moved
  moved=$(json_get "$tmp/result.json" bytes) || return 1
  [ "$moved" = "$expected" ] || return 1
  json_get "$tmp/result.json" gbit_per_s
}

median () {
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; printf "%.2f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio () {
  case "$1$2" in
    *n/a*) echo "n/a" ;;
    *) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "n/a" }' ;;
  esac
}

# measure IMPL DIRECTION STREAMS: sets $cell to the median Gbit/s over
# BENCH_RUNS, or n/a.  Not in a $(…) subshell: the signal traps of this
# shell must reach the measurement under way.
measure () {
  local impl=$1 direction=$2 streams=$3 expected values="" value
  local download=0 upload=0
  expected=$((per_stream * streams))
  [ "$direction" = download ] && download=$per_stream || upload=$per_stream

  for _ in $(seq "$runs"); do
    value=
    case $impl in
      foctet)
        [ -n "$foctet_ticket" ] || break
        run_once "foctet $direction x$streams" \
          env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" -q --identity "$tmp/client-identity" \
          "${plugin_args[@]}" perf "$foctet_ticket" --transport tls \
          --download "$download" --upload "$upload" --streams "$streams" --json &&
          value=$(perf_gbits "$direction" "$expected")
        ;;
      go)
        [ -n "$go_ticket" ] || break
        run_once "Go $direction x$streams" \
          "$go_peer" perf "$go_ticket" --download "$download" --upload "$upload" \
          --streams "$streams" --json &&
          value=$(perf_gbits "$direction" "$expected")
        ;;
      gnutls)
        [ -x "$baseline" ] || break
        run_once "GnuTLS $direction x$streams" \
          "$baseline" --bytes "$per_stream" --streams "$streams" --direction "$direction" &&
          value=$(baseline_gbits "$expected")
        ;;
    esac
    if [ -z "$value" ]; then
      [ -s "$tmp/result.json" ] && note "$impl $direction x$streams: unexpected result: $(head -c 300 "$tmp/result.json")"
      cell="n/a"
      return
    fi
    values="$values$value
"
  done
  if [ -z "$values" ]; then
    cell="n/a"
  else
    cell=$(printf '%s' "$values" | median)
  fi
}

# The servers.  Installed plugins stay out of it: only the build tree's.
plugin_args=()
for dir in "${plugin_dirs[@]}"; do
  plugin_args+=(--plugin-path "$dir")
done

foctet_ticket=
if [ ! -x "$shell" ]; then
  note "foctet: $shell is not built"
else
  missing=
  for dir in "${plugin_dirs[@]}"; do
    ls "$dir"/*.so >/dev/null 2>&1 || missing="$missing $(basename "$dir")"
  done
  if [ -n "$missing" ]; then
    note "foctet: plugin not built:$missing"
  else
    start_server foctet env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" -q --identity "$tmp/server-identity" \
      "${plugin_args[@]}" serve --listen tls/127.0.0.1:0 &&
      foctet_ticket=$ticket
  fi
fi

go_ticket=
if [ ! -x "$go_peer" ]; then
  note "Go: $go_peer is not built"
else
  start_server go "$go_peer" serve --listen 127.0.0.1:0 && go_ticket=$ticket
fi

[ -x "$baseline" ] || note "GnuTLS: $baseline is not built"

echo "Loopback TLS 1.3 throughput in Gbit/s, $bytes per stream, median of $runs run(s)"
echo "($(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1))."
echo
echo "| case | foctet | Go | bare GnuTLS | foctet/Go | foctet/GnuTLS |"
echo "|---|---:|---:|---:|---:|---:|"
for streams in 1 8; do
  for direction in download upload; do
    if [ "$streams" -eq 1 ]; then label="single-stream $direction"; else label="$streams-stream $direction"; fi
    note "measuring $label"
    # One after the other within a row, so that a row shares the machine's mood.
    measure foctet "$direction" "$streams"; f=$cell
    measure go "$direction" "$streams"; g=$cell
    measure gnutls "$direction" "$streams"; t=$cell
    echo "| $label | $f | $g | $t | $(ratio "$f" "$g") | $(ratio "$f" "$t") |"
  done
done
