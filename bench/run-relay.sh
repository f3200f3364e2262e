#!/usr/bin/env bash
# run-relay.sh BUILDDIR: the cost of a relay on loopback — foctet nodes,
# perf over the tls transport directly, through a local foctet-relay over
# v1 circuits (relayed over the nodes' TLS+yamux connections to the relay:
# a relay started with --no-raw-circuits) and over raw circuits (spliced
# TCP connections, the default), one stream and eight, each direction, in
# one run: the three paths of a case take turns, one run each per round,
# under the same load.  Prints a Markdown table of Gbit/s (bytes × 8 / seconds /
# 10⁹), the relayed/direct ratios, CPU seconds per GiB of the two nodes
# together, and of the relay, and the raw/direct ratio the CPU alone
# predicts when every process is CPU-bound on a shared machine: the CPU
# per GiB of the direct path over that of the raw path (nodes and relay).
# That last column depends little on the load; the measured ratios do.
#
# Environment: BENCH_BYTES (default 1G), BENCH_RUNS (default 1),
# BENCH_TIMEOUT (default 300), as bench/lib.sh reads them.
#
# A part that is not built, or fails, shows as "n/a"; why goes to stderr.
# Progress goes to stderr, the table to stdout.

set -u

. "$(dirname "$0")/lib.sh"
bench_init "$@"

shell="$builddir/foctet-shell/foctet-shell"
relay="$builddir/plugins/relay/foctet-relay"
plugin_dirs=("$builddir/plugins/transport-tls" "$builddir/plugins/mux-yamux" "$builddir/plugins/relay")

plugin_args=()
for dir in "${plugin_dirs[@]}"; do
  [ -d "$dir" ] || continue
  plugin_args+=(--plugin-path "$dir")
done

for program in "$shell" "$relay"; do
  if [ ! -x "$program" ]; then
    note "$program is not built"
    exit 1
  fi
done

# The relays first: the second word of a first line is the address.
start_server relay-raw env FOCTET_PLUGIN_SYSTEM_PATH= "$relay" "${plugin_args[@]}" --listen 127.0.0.1:0 || exit 1
raw_relay_pid=$server_pid
raw_relay_address=${ticket##* }
start_server relay-v1 env FOCTET_PLUGIN_SYSTEM_PATH= "$relay" "${plugin_args[@]}" --listen 127.0.0.1:0 \
  --no-raw-circuits || exit 1
v1_relay_pid=$server_pid
v1_relay_address=${ticket##* }

# One node reserved at each relay (the same program, the same options).
start_server foctet-raw env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" --identity "$tmp/server-identity" \
  "${plugin_args[@]}" serve --listen tls/127.0.0.1:0 --relay "$raw_relay_address" || exit 1
raw_ticket=$ticket
raw_pid=$server_pid
start_server foctet-v1 env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" --identity "$tmp/server-v1-identity" \
  "${plugin_args[@]}" serve --listen tls/127.0.0.1:0 --relay "$v1_relay_address" || exit 1
v1_ticket=$ticket
v1_pid=$server_pid

# row_cell TICKET SERVER_PID RELAY_PID TRANSPORT DIRECTION STREAMS: sets
# $cell (Gbit/s), $cpu (CPU s/GiB of the nodes) and $relay_cpu (CPU s/GiB
# of the relay).
row_cell () {
  local ticket=$1 spid=$2 rpid=$3 transport=$4 direction=$5 streams=$6 expected download=0 upload=0 before
  expected=$((per_stream * streams))
  [ "$direction" = download ] && download=$per_stream || upload=$per_stream
  before=$(process_ticks "$rpid")
  measure "$transport $direction x$streams" "$spid" "$direction" "$expected" perf \
    env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" -q --identity "$tmp/client-identity" \
    "${plugin_args[@]}" perf "$ticket" --transport "$transport" \
    --download "$download" --upload "$upload" --streams "$streams" --json
  relay_cpu=$(awk -v t="$(( $(process_ticks "$rpid") - before ))" -v hz="$clock_ticks" \
    -v b="$expected" 'BEGIN { printf "%.3g", t / hz / (b / 1073741824) }')
  [ "$cell" = n/a ] && relay_cpu=n/a
}

# row_round PATH: one run over PATH (direct, v1 or raw) for the row being
# measured; the relay's CPU goes to $extra.
row_round () {
  case $1 in
    direct) row_cell "$raw_ticket" "$raw_pid" 0 tls "$direction" "$streams" ;;
    v1) row_cell "$v1_ticket" "$v1_pid" "$v1_relay_pid" relay "$direction" "$streams" ;;
    raw) row_cell "$raw_ticket" "$raw_pid" "$raw_relay_pid" relay "$direction" "$streams" ;;
  esac
  [ "$1" = direct ] || extra=$relay_cpu
}

echo "Relay cost on loopback in Gbit/s, $bytes per stream, median of $runs run(s);"
echo "CPU in seconds per GiB moved $(machine_line)"
echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| case | direct (tls) | relayed v1 | relayed raw | v1/direct | raw/direct | CPU nodes direct | CPU nodes v1 | CPU nodes raw | CPU relay v1 | CPU relay raw | raw/direct by CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for streams in 1 8; do
  for direction in download upload; do
    label=$(case_label "$streams" "$direction")
    note "measuring $label"
    # The three paths in turns, so that a case shares the machine's mood.
    rounds row_round direct v1 raw
    round_result direct; d=$cell dc=$cpu
    round_result v1; v=$cell vc=$cpu vr=$extra
    round_result raw; r=$cell rc=$cpu rr=$extra
    by_cpu=n/a
    case "$dc$rc$rr" in
      *n/a*) ;;
      *) by_cpu=$(ratio "$dc" "$(awk -v a="$rc" -v b="$rr" 'BEGIN { print a + b }')") ;;
    esac
    echo "| $label | $d | $v | $r | $(ratio "$v" "$d") | $(ratio "$r" "$d") | $dc | $vc | $rc | $vr | $rr | $by_cpu |"
  done
done
echo
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
