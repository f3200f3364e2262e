# bench/lib.sh: what the benchmark scripts share — sourced, not run.
#
# bench_init BUILDDIR sets builddir, bytes, per_stream, runs, limit, tmp
# and the traps that stop every server and measurement on exit or on a
# signal.  Then:
#   start_server NAME [--pid-of-child] CMD...   a server; sets ticket, server_pid
#   measure NAME SERVER_PID DIRECTION EXPECTED KIND CMD...
#       runs CMD once; sets cell (Gbit/s) and cpu (CPU seconds per GiB,
#       client + server), "n/a" on failure
#   rounds CALLBACK KEY...; round_result KEY
#       the cells of one row, measured in turns, BENCH_RUNS rounds, and
#       their medians (below)
#   ratio A B, note TEXT...
#
# Environment read by bench_init:
#   BENCH_BYTES    bytes per stream, suffixes K M G (default 1G)
#   BENCH_RUNS     runs per cell; the median is shown (default 1)
#   BENCH_TIMEOUT  seconds one measurement may take (default 300)

note () {
  echo "$*" >&2
}

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

bench_init () {
  if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILDDIR" >&2
    exit 2
  fi
  builddir=$(cd "$1" && pwd)
  bytes=${BENCH_BYTES:-1G}
  runs=${BENCH_RUNS:-1}
  limit=${BENCH_TIMEOUT:-300}
  if ! per_stream=$(to_bytes "$bytes") || [ "$per_stream" -eq 0 ]; then
    echo "$0: BENCH_BYTES: '$bytes' is not a byte count" >&2
    exit 2
  fi
  case $runs in ''|0|*[!0-9]*) echo "$0: BENCH_RUNS: '$runs' is not a count" >&2; exit 2 ;; esac
  case $limit in ''|0|*[!0-9]*) echo "$0: BENCH_TIMEOUT: '$limit' is not a number of seconds" >&2; exit 2 ;; esac

  tmp=$(mktemp -d "${TMPDIR:-/tmp}/foctet-bench.XXXXXX") || exit 1
  server_pids=()
  measuring_pid=
  cleanup_hooks=()
  clock_ticks=$(getconf CLK_TCK)
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Runs COMMAND... (a function name and arguments) on exit, after the
# servers are stopped: for namespaces and the like.
on_cleanup () {
  cleanup_hooks+=("$*")
}

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

bench_cleanup () {
  local hook
  if [ -n "$measuring_pid" ]; then
    kill -TERM "$measuring_pid" 2>/dev/null
    wait "$measuring_pid" 2>/dev/null
  fi
  stop_servers
  for hook in "${cleanup_hooks[@]}"; do
    $hook
  done
  rm -rf "$tmp"
}

# The value of KEY in the JSON object on the first line of FILE.
json_get () {
  if command -v jq >/dev/null 2>&1; then
    jq -er --arg k "$2" '.[$k] // empty' "$1" 2>/dev/null
  else
    /usr/bin/python3 - "$1" "$2" 2>/dev/null <<'EOF'
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
# most 30 s) for the ticket on its first stdout line; sets $ticket, and
# $server_pid to the process the CPU time of which is the server's (the
# command's, under the `timeout` that bounds it).
start_server () {
  local name=$1 out="$tmp/$1.out" err="$tmp/$1.err" pid
  shift
  ticket=
  server_pid=
  # There to be read before the server writes it.
  : >"$out"
  # The servers must outlive every measurement, and no more.
  timeout -k 5 $((limit * 8 * runs + 120)) "$@" >"$out" 2>"$err" &
  pid=$!
  server_pids+=("$pid")
  for _ in $(seq 300); do
    if IFS= read -r ticket <"$out" && [ -n "$ticket" ]; then
      server_pid=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)
      server_pid=${server_pid%% *}
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

# CPU seconds (user + system) PID has used so far, in clock ticks; 0 if
# there is no such process.
process_ticks () {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  # Fields after the command name, which may hold spaces: 14 utime, 15 stime.
  stat=${stat##*) }
  set -- $stat
  echo $(( ${12} + ${13} ))
}

# Sets $child_ticks to the CPU ticks of the children this shell has
# waited for, all together.  Not in a $(…) subshell, which has children
# of its own.
children_ticks () {
  local line
  times >"$tmp/times"
  line=$(tail -n 1 "$tmp/times")
  # "XmY.YYYs XmY.YYYs": user and system
  child_ticks=$(awk -v t="$clock_ticks" -v l="$line" 'BEGIN {
    n = split(l, f, " "); s = 0
    for (i = 1; i <= n; i++) { split(f[i], p, "m"); sub("s", "", p[2]); s += p[1] * 60 + p[2] }
    printf "%d\n", s * t + 0.5 }')
}

# run_once NAME SERVER_PID CMD...: one measurement into $tmp/result.json,
# bounded by BENCH_TIMEOUT; sets $ticks to the CPU the client and the
# server used for it.
run_once () {
  local name=$1 spid=$2 status before_c before_s
  shift 2
  children_ticks
  before_c=$child_ticks
  before_s=$(process_ticks "${spid:-0}")
  # In the background, so that a signal to this script is handled at once.
  timeout -k 5 "$limit" "$@" >"$tmp/result.json" 2>"$tmp/result.err" &
  measuring_pid=$!
  wait "$measuring_pid"
  status=$?
  measuring_pid=
  children_ticks
  ticks=$(( child_ticks - before_c + $(process_ticks "${spid:-0}") - before_s ))
  if [ $status -eq 124 ] || [ $status -eq 137 ]; then
    note "$name: no result within ${limit} s"
    return 1
  elif [ $status -ne 0 ]; then
    note "$name: failed (exit $status): $(tail -n 1 "$tmp/result.err")"
    note_server_logs
    return 1
  fi
}

# The last lines each server logged, for a failed measurement (the
# foctet servers run without -q, so that they log the incoming
# connections that failed, and why): the logs go with $tmp when the
# script ends.  A server may still be writing
# its account of what failed (a relay logs a circuit's end after it reset
# the streams, which is what the client saw): it gets a moment first.
note_server_logs () {
  local log
  sleep 0.5
  for log in "$tmp"/*.err; do
    [ "$log" = "$tmp/result.err" ] && continue
    [ -s "$log" ] || continue
    note "  last lines of $(basename "$log" .err):"
    tail -n 5 "$log" | sed 's/^/    /' >&2
  done
}

# Gbit/s of a perf --json result in one direction, if it moved all the bytes.
perf_gbits () {
  local direction=$1 expected=$2 moved seconds
  moved=$(json_get "$tmp/result.json" "${direction}_bytes") || return 1
  seconds=$(json_get "$tmp/result.json" "${direction}_seconds") || return 1
  awk -v b="$moved" -v s="$seconds" -v e="$expected" \
    'BEGIN { if (b != e || s <= 0) exit 1; printf "%.6f\n", b * 8 / s / 1e9 }'
}

# Gbit/s of a tls-baseline result, if it moved all the bytes.
baseline_gbits () {
  local expected=$2 moved
  moved=$(json_get "$tmp/result.json" bytes) || return 1
  [ "$moved" = "$expected" ] || return 1
  json_get "$tmp/result.json" gbit_per_s
}

# The median of the numbers on stdin, to three significant digits.
median () {
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; printf "%.3g\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio () {
  case "$1$2" in
    *n/a*) echo "n/a" ;;
    *) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "n/a" }' ;;
  esac
}

# measure NAME SERVER_PID DIRECTION EXPECTED KIND CMD...: runs CMD once,
# KIND (perf or baseline) says how to read its result; sets $cell to its
# Gbit/s and $cpu to its CPU seconds per GiB moved (client and server
# together), or both to n/a.  The runs of a cell are rounds (below).  Not
# in a $(…) subshell: the signal traps of this shell must reach the
# measurement.
measure () {
  local name=$1 spid=$2 direction=$3 expected=$4 kind=$5 value=
  shift 5
  cell="n/a"
  cpu="n/a"
  run_once "$name" "$spid" "$@" &&
    value=$(${kind}_gbits "$direction" "$expected")
  if [ -z "$value" ]; then
    [ -s "$tmp/result.json" ] && note "$name: unexpected result: $(head -c 300 "$tmp/result.json")"
    return
  fi
  cell=$value
  cpu=$(awk -v t="$ticks" -v hz="$clock_ticks" -v b="$expected" \
    'BEGIN { printf "%.3f", t / hz / (b / 1073741824) }')
}

# Rounds.  A row of a table measures one case with several
# implementations.  They take turns, one run each per round, BENCH_RUNS
# rounds, so that a slow spell of this shared machine falls on all of
# them rather than on the runs of one.
#   rounds CALLBACK KEY...  calls CALLBACK KEY for every KEY in turn, in
#                           every round; CALLBACK measures once (sets
#                           cell and cpu through measure) and may set extra
#   round_result KEY        sets cell, cpu and extra to KEY's medians over
#                           the rounds, n/a if one of them failed
# A KEY that failed is not measured again.
declare -A round_cells round_cpus round_extras

rounds () {
  local callback=$1 key
  shift
  round_cells=()
  round_cpus=()
  round_extras=()
  for _ in $(seq "$runs"); do
    for key in "$@"; do
      cell=n/a cpu=n/a extra=n/a
      case ${round_cells[$key]:-} in
        *n/a*) ;;
        *) "$callback" "$key" ;;
      esac
      round_cells[$key]+="$cell"$'\n'
      round_cpus[$key]+="$cpu"$'\n'
      round_extras[$key]+="$extra"$'\n'
    done
  done
}

# The median of the values on stdin, one per line, or n/a if one is.
median_or_na () {
  local values
  values=$(cat)
  case $values in
    *n/a*) echo n/a ;;
    *) printf '%s\n' "$values" | median ;;
  esac
}

round_result () {
  cell=$(printf '%s' "${round_cells[$1]:-n/a}" | median_or_na)
  cpu=$(printf '%s' "${round_cpus[$1]:-n/a}" | median_or_na)
  extra=$(printf '%s' "${round_extras[$1]:-n/a}" | median_or_na)
}

# A table row label: "single-stream download", "8-stream upload".
case_label () {
  if [ "$1" -eq 1 ]; then echo "single-stream $2"; else echo "$1-stream $2"; fi
}

# CPU model and count, for the table's caption.
machine_line () {
  echo "($(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1))."
}
