#!/usr/bin/env bash
# run-quic.sh BUILDDIR: QUIC throughput, one stream and eight, each
# direction, for three implementations side by side:
#   foctet QUIC   foctet-shell serve/perf over the quic transport
#   quic-go       the reference peer (tests/interop), quic-go 0.29 on both sides
#   foctet TLS    foctet-shell over the tls transport (TCP + TLS 1.3 + yamux)
# first on loopback, then between two network namespaces joined by a link
# with 25 ms delay each way (50 ms RTT) and 1% loss each way.  Prints a
# Markdown table of Gbit/s (bytes × 8 / seconds / 10⁹) and of CPU seconds
# per GiB moved (client and server together).
#
# Environment:
#   BENCH_BYTES      bytes per stream on loopback, suffixes K M G (default 1G)
#   BENCH_WAN_BYTES  bytes per stream over the lossy link (default 16M)
#   BENCH_RUNS       runs per cell, the implementations of a row in turns;
#                    the median is shown (default 1)
#   BENCH_TIMEOUT    seconds one measurement may take (default 300)
#   BENCH_LOOPBACK   0 leaves the loopback rows out
#   BENCH_WAN        0 leaves the lossy link out (it needs root and `ip netns`)
#
# A part that is not built, or fails, shows as "n/a"; why goes to stderr.
# Progress goes to stderr, the table to stdout.

set -u

. "$(dirname "$0")/lib.sh"
bench_init "$@"

wan_bytes=${BENCH_WAN_BYTES:-16M}
if ! wan_per_stream=$(to_bytes "$wan_bytes") || [ "$wan_per_stream" -eq 0 ]; then
  echo "$0: BENCH_WAN_BYTES: '$wan_bytes' is not a byte count" >&2
  exit 2
fi

shell="$builddir/foctet-shell/foctet-shell"
plugin_dirs=("$builddir/plugins/transport-quic" "$builddir/plugins/transport-tls" "$builddir/plugins/mux-yamux")
go_peer="$builddir/tests/interop/foctet-go-peer"
wire="$builddir/tests/netns/netns-wire"

plugin_args=()
for dir in "${plugin_dirs[@]}"; do
  [ -d "$dir" ] || continue
  plugin_args+=(--plugin-path "$dir")
done

foctet_ok=1
if [ ! -x "$shell" ]; then
  note "foctet: $shell is not built"
  foctet_ok=0
fi
for dir in "${plugin_dirs[@]}"; do
  if ! ls "$dir"/*.so >/dev/null 2>&1; then
    note "foctet: plugin not built: $(basename "$dir")"
    foctet_ok=0
  fi
done
go_ok=1
if [ ! -x "$go_peer" ]; then
  note "quic-go: $go_peer is not built"
  go_ok=0
fi

# start_servers PREFIX HOST [WRAPPER...]: one foctet server listening on
# QUIC and TLS, one Go server on QUIC, both on HOST, the commands prefixed
# with WRAPPER (ip netns exec NS); sets foctet_ticket, foctet_pid,
# go_ticket, go_pid.
start_servers () {
  local prefix=$1 host=$2
  shift 2
  foctet_ticket= foctet_pid= go_ticket= go_pid=
  if [ $foctet_ok -eq 1 ]; then
    start_server "$prefix-foctet" "$@" env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" \
      --identity "$tmp/server-identity" "${plugin_args[@]}" \
      serve --listen "quic/$host:0" --listen "tls/$host:0" &&
      foctet_ticket=$ticket foctet_pid=$server_pid
  fi
  if [ $go_ok -eq 1 ]; then
    start_server "$prefix-go" "$@" "$go_peer" serve --listen "quic/$host:0" &&
      go_ticket=$ticket go_pid=$server_pid
  fi
}

# row_cell IMPL DIRECTION STREAMS PER_STREAM [WRAPPER...]: sets $cell
# (Gbit/s) and $cpu (CPU s/GiB).
row_cell () {
  local impl=$1 direction=$2 streams=$3 size=$4 expected download=0 upload=0
  shift 4
  expected=$((size * streams))
  [ "$direction" = download ] && download=$size || upload=$size
  cell="n/a"
  cpu="n/a"
  case $impl in
    quic|tls)
      [ -n "$foctet_ticket" ] || return
      measure "foctet $impl $direction x$streams" "$foctet_pid" "$direction" "$expected" perf \
        "$@" env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" -q --identity "$tmp/client-identity" \
        "${plugin_args[@]}" perf "$foctet_ticket" --transport "$impl" \
        --download "$download" --upload "$upload" --streams "$streams" --json
      ;;
    go)
      [ -n "$go_ticket" ] || return
      measure "quic-go $direction x$streams" "$go_pid" "$direction" "$expected" perf \
        "$@" "$go_peer" perf "$go_ticket" --transport quic \
        --download "$download" --upload "$upload" --streams "$streams" --json
      ;;
  esac
}

# row_round IMPL: one run of IMPL for the row table_rows is measuring.
row_round () {
  row_cell "$1" "$direction" "$streams" "$size" "${row_wrapper[@]}"
}

# table_rows TITLE PER_STREAM [WRAPPER...]: the four rows of one setting.
table_rows () {
  local title=$1 size=$2 label
  shift 2
  for streams in 1 8; do
    for direction in download upload; do
      label="$title, $(case_label "$streams" "$direction")"
      note "measuring $label"
      # In turns within a row, so that a row shares the machine's mood.
      row_wrapper=("$@")
      rounds row_round quic go tls
      round_result quic; q=$cell qc=$cpu
      round_result go; g=$cell gc=$cpu
      round_result tls; t=$cell tc=$cpu
      echo "| $label | $q | $g | $t | $(ratio "$q" "$g") | $(ratio "$q" "$t") | $qc | $gc | $tc |"
    done
  done
}

# The lossy link: namespaces NS_A (servers, 10.79.0.1) and NS_B (clients,
# 10.79.0.2) joined by netns-wire (user space: this kernel may have no
# sch_netem, and the figures should not depend on which one is used).
ns_a="foctet-bench-$$-a"
ns_b="foctet-bench-$$-b"
wire_pid=

remove_namespaces () {
  if [ -n "$wire_pid" ]; then
    kill -TERM "$wire_pid" 2>/dev/null
    wait "$wire_pid" 2>/dev/null
  fi
  ip netns del "$ns_a" 2>/dev/null
  ip netns del "$ns_b" 2>/dev/null
}

make_link () {
  if [ "$(id -u)" -ne 0 ]; then
    note "lossy link: needs root (ip netns); BENCH_WAN=0 leaves it out"
    return 1
  fi
  if [ ! -x "$wire" ]; then
    note "lossy link: $wire is not built"
    return 1
  fi
  on_cleanup remove_namespaces
  ip netns add "$ns_a" && ip netns add "$ns_b" &&
    ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up || return 1
  "$wire" "$ns_a" fbw0 "$ns_b" fbw1 25 1 1 >"$tmp/wire.out" 2>"$tmp/wire.err" &
  wire_pid=$!
  for _ in $(seq 100); do
    grep -q ready "$tmp/wire.out" 2>/dev/null && break
    kill -0 "$wire_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q ready "$tmp/wire.out" 2>/dev/null; then
    note "lossy link: netns-wire did not start: $(tail -n 1 "$tmp/wire.err")"
    return 1
  fi
  ip -n "$ns_a" addr add 10.79.0.1/24 dev fbw0 && ip -n "$ns_a" link set fbw0 up &&
    ip -n "$ns_b" addr add 10.79.0.2/24 dev fbw1 && ip -n "$ns_b" link set fbw1 up
}

echo "QUIC throughput in Gbit/s, median of $runs run(s); CPU in seconds per GiB moved,"
echo "client and server together $(machine_line)"
echo "Loopback: $bytes per stream.  Lossy link: $wan_bytes per stream, two network"
echo "namespaces, 25 ms delay and 1% loss each way (netns-wire)."
echo
echo "| case | foctet QUIC | quic-go | foctet TLS | QUIC/quic-go | QUIC/TLS | CPU foctet QUIC | CPU quic-go | CPU foctet TLS |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"

if [ "${BENCH_LOOPBACK:-1}" != 0 ]; then
  start_servers loopback 127.0.0.1
  table_rows loopback "$per_stream"
  stop_servers
fi

if [ "${BENCH_WAN:-1}" != 0 ] && make_link; then
  start_servers wan 10.79.0.1 ip netns exec "$ns_a"
  table_rows "50 ms RTT, 1% loss" "$wan_per_stream" ip netns exec "$ns_b"
  stop_servers
fi
