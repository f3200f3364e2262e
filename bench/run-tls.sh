#!/usr/bin/env bash
# run-tls.sh BUILDDIR: TLS throughput on loopback, one stream and eight,
# each direction, for three implementations side by side:
#   foctet   foctet-shell serve/perf over the tls transport (+ yamux)
#   Go       the reference peer, crypto/tls + hashicorp/yamux
#   GnuTLS   bench/tls-baseline, bare GnuTLS TLS 1.3 streams, measured two
#            ways for N streams: all N streams' bytes through one TLS
#            connection (the ceiling of foctet's design, which carries a
#            peer's streams in one TLS session), and one TCP connection and
#            thread per stream (N TLS sessions spread over the cores)
# and prints a Markdown table of Gbit/s (bytes × 8 / seconds / 10⁹).
#
# Environment:
#   BENCH_BYTES    bytes per stream, suffixes K M G (default 1G)
#   BENCH_RUNS     runs per cell, the implementations of a row in turns;
#                  the median is shown (default 1)
#   BENCH_TIMEOUT  seconds one measurement may take (default 300)
#
# A part that is not built yet, or that fails, shows as "n/a"; why goes to
# stderr.  Progress goes to stderr, the table to stdout.

set -u

. "$(dirname "$0")/lib.sh"
bench_init "$@"

shell="$builddir/foctet-shell/foctet-shell"
plugin_dirs=("$builddir/plugins/transport-tls" "$builddir/plugins/mux-yamux")
go_peer="$builddir/tests/interop/foctet-go-peer"
baseline="$builddir/bench/tls-baseline"

# row_cell IMPL DIRECTION STREAMS: sets $cell (Gbit/s) and $cpu (CPU s/GiB).
row_cell () {
  local impl=$1 direction=$2 streams=$3 expected download=0 upload=0
  expected=$((per_stream * streams))
  [ "$direction" = download ] && download=$per_stream || upload=$per_stream
  cell="n/a"
  cpu="n/a"
  case $impl in
    foctet)
      [ -n "$foctet_ticket" ] || return
      measure "foctet $direction x$streams" "$foctet_pid" "$direction" "$expected" perf \
        env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" -q --identity "$tmp/client-identity" \
        "${plugin_args[@]}" perf "$foctet_ticket" --transport tls \
        --download "$download" --upload "$upload" --streams "$streams" --json
      ;;
    go)
      [ -n "$go_ticket" ] || return
      measure "Go $direction x$streams" "$go_pid" "$direction" "$expected" perf \
        "$go_peer" perf "$go_ticket" --download "$download" --upload "$upload" \
        --streams "$streams" --json
      ;;
    gnutls)
      [ -x "$baseline" ] || return
      measure "GnuTLS $direction x$streams" "" "$direction" "$expected" baseline \
        "$baseline" --bytes "$per_stream" --streams "$streams" --direction "$direction"
      ;;
    gnutls-one)
      [ -x "$baseline" ] || return
      measure "GnuTLS $direction x$streams in one connection" "" "$direction" "$expected" baseline \
        "$baseline" --bytes "$expected" --streams 1 --direction "$direction"
      ;;
  esac
}

# row_round IMPL: one run of IMPL for the row being measured.
row_round () {
  row_cell "$1" "$direction" "$streams"
}

# The servers.  Installed plugins stay out of it: only the build tree's.
plugin_args=()
for dir in "${plugin_dirs[@]}"; do
  [ -d "$dir" ] || continue
  plugin_args+=(--plugin-path "$dir")
done

foctet_ticket=
foctet_pid=
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
    start_server foctet env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" --identity "$tmp/server-identity" \
      "${plugin_args[@]}" serve --listen tls/127.0.0.1:0 &&
      foctet_ticket=$ticket foctet_pid=$server_pid
  fi
fi

go_ticket=
go_pid=
if [ ! -x "$go_peer" ]; then
  note "Go: $go_peer is not built"
else
  start_server go "$go_peer" serve --listen 127.0.0.1:0 && go_ticket=$ticket go_pid=$server_pid
fi

[ -x "$baseline" ] || note "GnuTLS: $baseline is not built"

echo "Loopback TLS 1.3 throughput in Gbit/s, $bytes per stream, median of $runs run(s);"
echo "CPU in seconds per GiB moved, client and server together $(machine_line)"
echo
echo "| case | foctet | Go | GnuTLS, one connection | GnuTLS, a connection per stream | foctet/Go | foctet/GnuTLS one connection | foctet/GnuTLS per stream | CPU foctet | CPU Go | CPU GnuTLS one connection | CPU GnuTLS per stream |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for streams in 1 8; do
  for direction in download upload; do
    label=$(case_label "$streams" "$direction")
    note "measuring $label"
    # In turns within a row, so that a row shares the machine's mood.
    keys=(foctet go gnutls)
    [ "$streams" -gt 1 ] && keys+=(gnutls-one)
    rounds row_round "${keys[@]}"
    round_result foctet; f=$cell fc=$cpu
    round_result go; g=$cell gc=$cpu
    round_result gnutls; t=$cell tc=$cpu
    if [ "$streams" -eq 1 ]; then
      o=$t oc=$tc
    else
      round_result gnutls-one; o=$cell oc=$cpu
    fi
    echo "| $label | $f | $g | $o | $t | $(ratio "$f" "$g") | $(ratio "$f" "$o") | $(ratio "$f" "$t") | $fc | $gc | $oc | $tc |"
  done
done
