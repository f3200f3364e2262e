#!/usr/bin/env bash
# run-relay.sh BUILDDIR: the cost of a relay on loopback — the same two
# foctet nodes, perf over the tls transport directly and through a local
# foctet-relay, one stream and eight, each direction, in one run.  Prints
# a Markdown table of Gbit/s (bytes × 8 / seconds / 10⁹), the relayed/direct
# ratio, CPU seconds per GiB of the two nodes together, and of the relay.
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
  plugin_args+=(--plugin-path "$dir")
done

for program in "$shell" "$relay"; do
  if [ ! -x "$program" ]; then
    note "$program is not built"
    exit 1
  fi
done

# The relay first: its second word on the first line is its address.
start_server relay env FOCTET_PLUGIN_SYSTEM_PATH= "$relay" "${plugin_args[@]}" --listen 127.0.0.1:0 || exit 1
relay_pid=$server_pid
relay_address=${ticket##* }

start_server foctet env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" -q --identity "$tmp/server-identity" \
  "${plugin_args[@]}" serve --listen tls/127.0.0.1:0 --relay "$relay_address" || exit 1
foctet_ticket=$ticket
foctet_pid=$server_pid

# row_cell TRANSPORT DIRECTION STREAMS: sets $cell (Gbit/s), $cpu (CPU
# s/GiB of the nodes) and $relay_cpu (CPU s/GiB of the relay).
row_cell () {
  local transport=$1 direction=$2 streams=$3 expected download=0 upload=0 before
  expected=$((per_stream * streams))
  [ "$direction" = download ] && download=$per_stream || upload=$per_stream
  before=$(process_ticks "$relay_pid")
  measure "$transport $direction x$streams" "$foctet_pid" "$direction" "$expected" perf \
    env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" -q --identity "$tmp/client-identity" \
    "${plugin_args[@]}" perf "$foctet_ticket" --transport "$transport" \
    --download "$download" --upload "$upload" --streams "$streams" --json
  relay_cpu=$(awk -v t="$(( $(process_ticks "$relay_pid") - before ))" -v hz="$clock_ticks" \
    -v b="$((expected * runs))" 'BEGIN { printf "%.3g", t / hz / (b / 1073741824) }')
  [ "$cell" = n/a ] && relay_cpu=n/a
}

echo "Relay cost on loopback in Gbit/s, $bytes per stream, median of $runs run(s);"
echo "CPU in seconds per GiB moved $(machine_line)"
echo
echo "| case | direct (tls) | relayed | relayed/direct | CPU nodes direct | CPU nodes relayed | CPU relay |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for streams in 1 8; do
  for direction in download upload; do
    label=$(case_label "$streams" "$direction")
    note "measuring $label"
    row_cell tls "$direction" "$streams"; d=$cell dc=$cpu
    row_cell relay "$direction" "$streams"; r=$cell rc=$cpu
    echo "| $label | $d | $r | $(ratio "$r" "$d") | $dc | $rc | $relay_cpu |"
  done
done
